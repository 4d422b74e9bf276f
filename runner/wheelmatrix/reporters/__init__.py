"""Reporters turn results into a terminal table, JSON, JUnit XML, Markdown, HTML.

May import run (the stored results), findings, scan, model and the base modules.
"""
