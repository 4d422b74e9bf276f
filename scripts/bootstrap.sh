#!/usr/bin/env bash
# Shared by scripts/test.sh and scripts/demo.sh: host set-up (engine, QEMU, mmdebstrap, the
# test suite's compilers) and a virtual environment in .venv with wheelmatrix installed.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELMATRIX_TEST_DEPS=1 bash scripts/setup-host.sh
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
