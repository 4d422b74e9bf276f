"""One cell's flow against a Sandbox: install plan, scenario kinds (kinds.py, checks/), evidence re-runs.

May import findings, backends.base, matrix, config, scan and the base modules; never a concrete engine.
"""
