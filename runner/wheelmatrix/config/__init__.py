"""Configuration: validated, immutable objects built from YAML and the command line."""
