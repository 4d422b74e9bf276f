"""Backends run containers: the Backend/Sandbox protocol (base.py), the factory, and engines.

Everything engine-specific lives under backends/docker/, the only place that imports the Docker SDK.
May import matrix, config, scan, inputs and the base modules; never the cell flow above it.
"""
