"""Local image recipes for hosts with no registry: each writes a root file system tarball.

May import config and the base modules.
"""
