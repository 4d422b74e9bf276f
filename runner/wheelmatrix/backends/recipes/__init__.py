"""Local image recipes for hosts with no registry: each writes a root file system tarball."""
