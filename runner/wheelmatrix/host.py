"""Facts about the host and host-side resources: emulation, index settings, uv, caches."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import struct
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from wheelmatrix.errors import InfrastructureError

if TYPE_CHECKING:  # a scan needs only cache_dir: the rest loads with the function that uses it
    import configparser

_MACHINE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}
_ELF_MACHINE = {"x86_64": 62, "aarch64": 183}
# uv wheels whose `uv` executable is statically linked, per arch.
_UV_PLATFORM = {"x86_64": "musllinux_1_1_x86_64", "aarch64": "manylinux_2_17_aarch64"}
CA_CANDIDATES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


class IndexSettings(NamedTuple):
    """The host's package index configuration, passed into containers."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    proxy_env: Mapping[str, str] = MappingProxyType({})  # read-only: a shared default
    has_ca_bundle: bool = False


def setup_command() -> str:
    """The command that sets this host up (the script ships inside the package)."""
    from wheelmatrix.resources import data_path

    return f"sudo bash {data_path('setup-host.sh')}"


def host_arch() -> str:
    import platform

    return _MACHINE.get(platform.machine(), platform.machine())


def binfmt_enabled(arch: str) -> bool:
    entry = Path("/proc/sys/fs/binfmt_misc") / f"qemu-{arch}"
    try:
        return entry.read_text().splitlines()[0].strip() == "enabled"
    except (OSError, IndexError):
        return False


def runnable_archs() -> list[str]:
    native = host_arch()
    return [a for a in ("x86_64", "aarch64") if a == native or binfmt_enabled(a)]


def cache_dir() -> Path:
    env = os.environ.get("WHEELMATRIX_CACHE")
    base = (
        Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wheelmatrix"
    )
    base.mkdir(parents=True, exist_ok=True)
    return base


@contextlib.contextmanager
def file_lock(name: str) -> Iterator[None]:
    """A host-wide lock (shared by concurrent runs and pytest-xdist workers)."""
    locks = cache_dir() / "locks"
    locks.mkdir(exist_ok=True)
    with (locks / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ca_bundle() -> Path | None:
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"):
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return Path(value)
    return next((Path(p) for p in CA_CANDIDATES if Path(p).is_file()), None)


def _pip_config() -> configparser.ConfigParser:
    import configparser

    cfg = configparser.ConfigParser()
    files = [
        "/etc/pip.conf",
        "/etc/xdg/pip/pip.conf",
        str(Path.home() / ".pip/pip.conf"),
        str(Path.home() / ".config/pip/pip.conf"),
    ]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(os.environ["PIP_CONFIG_FILE"])
    cfg.read([f for f in files if Path(f).is_file()])
    return cfg


def index_settings() -> IndexSettings:
    """The host's index URL(s) and proxies. file:// indexes are host-only and left out."""
    cfg = _pip_config()

    def get(key: str) -> str | None:
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            return env
        for section in ("install", "global"):
            if cfg.has_option(section, key):
                return cfg.get(section, key)
        return None

    index = os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL") or get("index-url")
    extras = (get("extra-index-url") or "").split()
    remote = tuple(u for u in extras if u.startswith(("http://", "https://")))
    proxies = {}
    for var in PROXY_VARS:
        for name in (var, var.lower()):
            if os.environ.get(name):
                proxies[name] = os.environ[name]
    return IndexSettings(
        index_url=index if index and index.startswith(("http://", "https://")) else None,
        extra_index_urls=remote,
        proxy_env=proxies,
        has_ca_bundle=ca_bundle() is not None,
    )


def elf_info(path: Path) -> tuple[int, bool]:
    """(e_machine, statically linked) of an ELF file; raises ValueError if it is not ELF."""
    with path.open("rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            raise ValueError(f"{path} is not a 64-bit ELF file")
        e_machine = struct.unpack_from("<H", head, 18)[0]
        (e_phoff,) = struct.unpack_from("<Q", head, 32)
        e_phentsize, e_phnum = struct.unpack_from("<HH", head, 54)
        fh.seek(e_phoff)
        table = fh.read(e_phentsize * e_phnum)
    interp = any(struct.unpack_from("<I", table, i * e_phentsize)[0] == 3 for i in range(e_phnum))
    return e_machine, not interp


def uv_binary(arch: str) -> Path:
    """A static uv executable for `arch`, fetched once from uv's wheels and cached."""
    import subprocess
    import tempfile

    root = cache_dir() / "uv-bin" / arch
    with file_lock(f"uv-{arch}"):
        existing = sorted(root.glob("*/uv"))
        if existing:
            return existing[-1]
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                _UV_PLATFORM[arch],
                "--dest",
                tmp,
                "uv",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = list(Path(tmp).glob("uv-*.whl"))
            if proc.returncode != 0 or not wheels:
                raise InfrastructureError(
                    f"could not download uv for {arch}: {proc.stderr.strip()[-500:] or 'no wheel'}",
                    hint="check the host's package index settings, or use --installer pip",
                )
            version = wheels[0].name.split("-")[1]
            target = root / version / "uv"
            target.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheels[0]) as zf:
                member = next(n for n in zf.namelist() if n.endswith(".data/scripts/uv"))
                partial = target.with_suffix(".partial")
                with zf.open(member) as src, partial.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            partial.chmod(0o755)
            machine, static = elf_info(partial)
            if machine != _ELF_MACHINE[arch] or not static:
                partial.unlink()
                raise InfrastructureError(f"the uv wheel for {arch} holds no static {arch} binary")
            partial.rename(target)
            return target


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses (so an internal mirror works too)."""
    env = os.environ.get("WHEELMATRIX_DEBIAN_MIRROR")
    if env:
        return env.rstrip("/")
    uris: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text(errors="replace").split("\n\n"):
            fields = dict(
                (k.strip(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if not ln.startswith("#"))
                if _
            )
            suites = fields.get("Suites", "").split()
            if (
                "deb" in fields.get("Types", "").split()
                and suites
                and not all(s.endswith("-security") for s in suites)
            ):
                uris += fields.get("URIs", "").split()
    legacy = Path("/etc/apt/sources.list")
    if legacy.is_file():
        for line in legacy.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and not parts[2].endswith("-security"):
                uris.append(next(p for p in parts[1:] if not p.startswith("[")))
    uris = [u for u in uris if u.startswith(("http://", "https://")) and "security" not in u]
    if not uris:
        raise InfrastructureError(
            "found no Debian mirror in the host's apt configuration",
            hint="set WHEELMATRIX_DEBIAN_MIRROR to a Debian mirror URL",
        )
    return uris[0].rstrip("/")


def free_disk_gib(path: Path) -> float:
    usage = shutil.disk_usage(path)
    return usage.free / 2**30
