"""One cell's flow against a Sandbox: install plan, scenario kinds (checks/), interpretation.

May import findings, backends.base, matrix, config, scan and the base modules; never a concrete engine.
"""
