"""Scenario kinds, one module each (their table: cell/kinds.py): a runner against CellRun, pure interpreters.

May import cell.install, cell.options, cell.plan, backends.base, findings, matrix, config, scan, base modules.
"""
