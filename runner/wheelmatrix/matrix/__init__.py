"""The matrix: cells (distro x arch x Python x scenario) with stable ids, tags, shards.

May import config, scan, inputs and the base modules; knows nothing about engines.
"""
