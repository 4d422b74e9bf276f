#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine and runs the whole test suite.
# .ci/run calls exactly this. Needs root (or sudo) for the host set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh

# Lint and types first: cheap, and a failure here fails the run.
.venv/bin/ruff check runner tests bench scripts
.venv/bin/ruff format --check runner tests bench
.venv/bin/mypy

# pytest exits 5 when it collected no test: that must never pass for success.
set +e
.venv/bin/python -m pytest -n "${WHEELMATRIX_TEST_WORKERS:-2}" --dist loadgroup "$@" tests
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "scripts/test.sh: pytest ran no test; treating that as a failure" >&2
  exit 1
fi
exit "$rc"
