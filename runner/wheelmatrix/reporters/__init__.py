"""Reporters turn results into a terminal table, JSON, JUnit XML."""
