"""The application layer: plan a run, execute it, write reports; one live cell, bundles, minimize.

May import every room below the CLI; the CLI calls it and prints.
"""
