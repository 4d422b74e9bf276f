"""wheelmatrix: validate wheels across a real distro x arch x Python container matrix."""

__version__ = "0.1.0"
