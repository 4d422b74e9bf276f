"""Configuration: validated, immutable objects built from YAML and the command line.

May import the base modules, inputs and scan (CPU level names).
"""
