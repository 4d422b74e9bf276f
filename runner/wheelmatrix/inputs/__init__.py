"""Inputs: wheel files and requirement strings, read and checked before anything starts.

May import the base modules (errors, resources, model, host) only.
"""
