"""wheelmatrix: validate wheels across a real distro x arch x Python container matrix.

Top-level modules are the base every room may import: errors, resources, model, host. Layers, low to
high: probe, base, inputs, scan, config, matrix, backends, findings, cell, run, reporters, service, cli
(tests/unit/test_layers.py enforces the order).
"""

__version__ = "0.1.0"
