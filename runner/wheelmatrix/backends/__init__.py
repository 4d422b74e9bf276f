"""Backends run cells. The scheduler only sees the Protocol in base.py."""
