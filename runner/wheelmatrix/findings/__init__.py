"""Findings: why a check failed, as typed values (kind, subject, evidence, fix), and grouping.

May import matrix, config, scan, inputs and the base modules; the cell flow and reporters build on it.
"""
