"""Scenario kinds: what runs in a cell and how its records become checks (pure interpreters).

May import findings, scan and the base modules.
"""
