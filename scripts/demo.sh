#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine and runs a demo validation: a small
# example wheel (built here, pure Python) and a wheel that lies about its glibc on the
# Debian 11/12/13 x x86_64/aarch64 matrix. Needs root (or sudo) for the host set-up.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh

out=demo-out
mkdir -p "$out"
.venv/bin/python -m tests.fixtures.demo "$out/wheels"
set +e
echo "== 1. a pure wheel and a wheel that claims manylinux_2_17 but needs GLIBC_2.36"
.venv/bin/wheelmatrix validate "$out"/wheels/*.whl \
  --distro debian-11 --distro debian-12 --distro debian-13 \
  --json "$out/report.json" --junit "$out/report.xml" --markdown "$out/summary.md" \
  --html "$out/report.html" "$@"
rc1=$?
echo
echo "== 2. two wheels whose exported symbols collide: only one import order crashes"
with=()
for w in "$out"/wheels/pair/wmcollb-*.whl; do with+=(--with "$w"); done
.venv/bin/wheelmatrix validate "$out"/wheels/pair/wmcolla-*.whl "${with[@]}" \
  --distro debian-12 --json "$out/pair.json" "$@"
rc2=$?
set -e
echo "reports: $out/report.json $out/report.xml $out/summary.md $out/report.html $out/pair.json"
# Exit code 1 is the expected outcome of both parts (the demo wheels are broken on purpose,
# and the tables above say why); 2 or 3 would mean a real problem.
for rc in "$rc1" "$rc2"; do
  if [ "$rc" -gt 1 ]; then exit "$rc"; fi
done
echo "demo finished"
