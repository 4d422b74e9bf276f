"""Where things are inside every cell's sandbox: the contract between an engine (which puts
the probe, uv, the CA bundle and the wheels there) and the cell flow (which runs them)."""

from __future__ import annotations

WM_ROOT = "/opt/wheelmatrix"
UV_BIN = f"{WM_ROOT}/bin/uv"
UV_CACHE = f"{WM_ROOT}/cache/uv"
WHEELS_DIR = f"{WM_ROOT}/wheels"
FIND_LINKS_DIR = f"{WM_ROOT}/find-links"
CA_BUNDLE = f"{WM_ROOT}/ca.crt"
PROBE_DIR = f"{WM_ROOT}/probe"
PROBE = f"{PROBE_DIR}/wm_probe.py"
SYMBOLS_PROBE = f"{PROBE_DIR}/wm_symbols.py"
VENV = "/tmp/wm-venv"
VENV_PYTHON = f"{VENV}/bin/python"
QEMU_BIN = f"{WM_ROOT}/qemu/qemu-static"  # CPU cells: the host's static qemu for the cell's arch
NATIVE_DIR = f"{WM_ROOT}/native"  # emulated cells: the runner's own interpreter, packed (native_python.py)
