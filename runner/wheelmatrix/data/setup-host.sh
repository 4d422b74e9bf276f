#!/usr/bin/env bash
# Make a fresh Debian machine ready for wheelmatrix. Idempotent: every step checks first.
#   - installs docker.io, qemu-user-static, binfmt-support, mmdebstrap (and, with
#     WHEELMATRIX_TEST_DEPS=1, the cross compilers and headless Chromium the test suite uses)
#     where missing;
#   - starts dockerd when no engine answers (unless DOCKER_HOST names another engine);
#   - mounts binfmt_misc and enables qemu-aarch64 so arm64 containers run under emulation.
# Needs root (or sudo). Safe to run again at any time.
set -euo pipefail

log() { printf '[setup-host] %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

pkgs=(docker.io qemu-user-static binfmt-support mmdebstrap arch-test ca-certificates)
if [ "${WHEELMATRIX_TEST_DEPS:-0}" = 1 ]; then
  pkgs+=(gcc gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
  pkgs+=(g++ g++-aarch64-linux-gnu patchelf)
  pkgs+=(chromium)  # the HTML report is tested in headless Chromium
  pkgs+=(podman catatonit)  # podman's Docker-compatible API is a tested engine kind
  pkgs+=(docker-registry)  # a local registry for the registry path (started by the tests)
fi
if [ "${WHEELMATRIX_TEST_DEPS:-0}" = 1 ] || [ "${WHEELMATRIX_MUSL:-0}" = 1 ]; then
  # the musl-python recipe cross-compiles CPython on the host for both arches
  pkgs+=(gcc gcc-aarch64-linux-gnu make binutils python3)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "packages already installed"
fi

# --- emulation for aarch64 -------------------------------------------------------------
if [ "$(uname -m)" != aarch64 ]; then
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    log "mounting binfmt_misc"
    as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if ! grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "enabling qemu-aarch64"
    as_root update-binfmts --enable qemu-aarch64 || true
  fi
  if grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
    log "qemu-aarch64: $(grep -E '^(interpreter|flags)' /proc/sys/fs/binfmt_misc/qemu-aarch64 | tr '\n' ' ')"
  else
    log "WARNING: qemu-aarch64 could not be enabled; aarch64 cells will be reported as not runnable"
  fi
fi

# --- container engine ------------------------------------------------------------------
engine_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if engine_up; then
  log "engine answers: $(docker version --format '{{.Server.Version}}')"
elif [ -n "${DOCKER_HOST:-}" ]; then
  log "ERROR: DOCKER_HOST=$DOCKER_HOST does not answer; start that engine or unset DOCKER_HOST" >&2
  exit 1
else
  log "starting dockerd"
  as_root mkdir -p /var/log
  as_root bash -c 'setsid nohup dockerd >/var/log/wheelmatrix-dockerd.log 2>&1 < /dev/null &'
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  if ! engine_up; then
    log "ERROR: dockerd did not answer within 60 s; see /var/log/wheelmatrix-dockerd.log" >&2
    tail -n 20 /var/log/wheelmatrix-dockerd.log >&2 || true
    exit 1
  fi
  log "engine answers: $(docker version --format '{{.Server.Version}}')"
fi
