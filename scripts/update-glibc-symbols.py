"""Regenerate wheelmatrix/data/glibc-symbols.json from glibc's own ABI lists.

    python scripts/update-glibc-symbols.py --source DIR     # an unpacked glibc source tree
    python scripts/update-glibc-symbols.py [--package SPEC]  # apt-get source SPEC into a temp dir

glibc keeps, for every Linux port, one `*.abilist` file per shared library under
sysdeps/unix/sysv/linux/ (lines like `GLIBC_2.38 __isoc23_strtol F`). From them we record, for
every exported symbol NAME, the lowest GLIBC_x.y version it is exported at and the library that
exports it then. That answers "in which glibc release did this name first appear?", which the
symbol-version ceiling check cannot answer for references that carry no version.

Tables written:
  symbols.x86_64   sysdeps/unix/sysv/linux/x86_64/64/*.abilist (+ x86_64/libmvec.abilist)
  symbols.aarch64  sysdeps/unix/sysv/linux/aarch64/*.abilist
  first_release    arch-independent: the lowest version over every Linux port's lists (the release
                   in which glibc first exported the name anywhere); a fallback for other arches
Per-arch values are kept as the lists give them: a port's first release is its baseline (the
DEFAULT line of its shlib-versions: GLIBC_2.2.5 for x86_64, GLIBC_2.17 for aarch64), and every
name that predates the port is listed at that baseline. Names at or below the baseline (for
first_release: at or below GLIBC_2.2.5) are dropped: every glibc of that arch has them, so they
can never be too new for any manylinux tag or any cell.

Without --source the script needs apt-get with deb-src entries and dpkg-source (dpkg-dev). SPEC
defaults to `glibc` (apt's newest source version); e.g. `glibc/trixie` or `glibc=2.41-12+deb13u4`
pick another. If the archive no longer serves the newest indexed version, older indexed versions
of the same package are tried in turn.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "runner" / "wheelmatrix" / "data" / "glibc-symbols.json"
LINUX = Path("sysdeps/unix/sysv/linux")
# arch -> (directories whose *.abilist files make up that arch's ABI, shlib-versions file)
ARCHES: dict[str, tuple[tuple[str, ...], str]] = {
    "x86_64": (("x86_64/64", "x86_64"), "x86_64/64/shlib-versions"),
    "aarch64": (("aarch64",), "aarch64/shlib-versions"),
}
GENERIC_BASELINE = (2, 2, 5)  # the lowest baseline among the ports we ship
SONAMES = {
    "libc": "libc.so.6",
    "libm": "libm.so.6",
    "libpthread": "libpthread.so.0",
    "libdl": "libdl.so.2",
    "librt": "librt.so.1",
    "libresolv": "libresolv.so.2",
    "libutil": "libutil.so.1",
    "libanl": "libanl.so.1",
    "libnsl": "libnsl.so.1",
    "libmvec": "libmvec.so.1",
    "libBrokenLocale": "libBrokenLocale.so.1",
    "libthread_db": "libthread_db.so.1",
    "libc_malloc_debug": "libc_malloc_debug.so.0",
    "libcrypt": "libcrypt.so.1",
}
LD = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}
# When a name appears at the same lowest version in several libraries, name the likeliest one.
PREFERRED = ("libc", "libm", "ld", "libpthread", "libdl", "librt")
LINE = re.compile(r"^GLIBC_(\d+(?:\.\d+)+)\s+(\S+)\s+[A-Z]\b")

Version = tuple[int, ...]
Entry = tuple[Version, str]  # (first version, abilist stem)


def _key(version: str) -> Version:
    return tuple(int(x) for x in version.split("."))


def _text(version: Version) -> str:
    return ".".join(str(x) for x in version)


def _rank(entry: Entry) -> tuple[Version, int, str]:
    version, lib = entry
    return version, PREFERRED.index(lib) if lib in PREFERRED else len(PREFERRED), lib


def _scan(files: list[Path]) -> dict[str, Entry]:
    first: dict[str, Entry] = {}
    for path in files:
        lib = path.name.removesuffix(".abilist")
        for line in path.read_text().splitlines():
            m = LINE.match(line)
            if m is None:
                continue
            entry = (_key(m.group(1)), lib)
            name = m.group(2)
            if name not in first or _rank(entry) < _rank(first[name]):
                first[name] = entry
    return first


def _baseline(shlib_versions: Path) -> Version:
    for line in shlib_versions.read_text().splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "DEFAULT" and fields[1].startswith("GLIBC_"):
            return _key(fields[1].removeprefix("GLIBC_"))
    raise SystemExit(f"no DEFAULT GLIBC_ version in {shlib_versions}")


def _soname(lib: str, arch: str | None) -> str:
    if lib == "ld":
        return LD[arch] if arch else "ld.so"
    return SONAMES.get(lib, f"{lib}.so")


def _table(first: dict[str, Entry], baseline: Version, arch: str | None) -> dict[str, list[str]]:
    return {
        name: [_text(version), _soname(lib, arch)]
        for name, (version, lib) in sorted(first.items())
        if version > baseline
    }


def _glibc_version(tree: Path) -> str:
    m = re.search(r'#define\s+VERSION\s+"([^"]+)"', (tree / "version.h").read_text())
    if m is None:
        raise SystemExit(f"{tree}/version.h names no VERSION: not a glibc source tree?")
    return m.group(1)


def _debian_version(tree: Path) -> str | None:
    changelog = tree / "debian" / "changelog"
    if not changelog.is_file():
        return None
    m = re.match(r"^\S+ \(([^)]+)\)", changelog.read_text())
    return m.group(1) if m else None


def build(tree: Path) -> dict[str, object]:
    linux = tree / LINUX
    if not linux.is_dir():
        raise SystemExit(f"{linux} is missing: not a glibc source tree?")
    symbols: dict[str, dict[str, list[str]]] = {}
    baselines: dict[str, str] = {}
    for arch, (dirs, shlib_versions) in ARCHES.items():
        files = sorted(f for d in dirs for f in (linux / d).glob("*.abilist"))
        if not any(f.name == "libc.abilist" for f in files):
            raise SystemExit(f"no libc.abilist for {arch} under {linux}")
        baseline = _baseline(linux / shlib_versions)
        baselines[arch] = _text(baseline)
        symbols[arch] = _table(_scan(files), baseline, arch)
    every_port = sorted(p for p in linux.rglob("*.abilist") if ".pc" not in p.parts)
    first_release = _table(_scan(every_port), GENERIC_BASELINE, None)

    version = _glibc_version(tree)
    debian = _debian_version(tree)
    source = f"glibc {version}" + (f" (Debian source package glibc {debian})" if debian else "")
    floors = ", ".join(f"{arch} {v}" for arch, v in baselines.items())
    return {
        "_comment": (
            f"First glibc release exporting each libc-family symbol name, from {source}: the lowest "
            "GLIBC_x.y version of the name in glibc's sysdeps/unix/sysv/linux ABI lists (*.abilist: "
            "libc, libm, libpthread, libdl, librt, libresolv, libutil, libanl, libmvec, "
            "libc_malloc_debug, ld.so, ...), with the library (soname) exporting it then. "
            "symbols.<arch> is per port (x86_64/64, aarch64) and keeps the port's own value: names "
            "older than the port carry its baseline; first_release is the lowest version over every "
            f"Linux port. Names at or below the baseline ({floors}; "
            f"first_release {_text(GENERIC_BASELINE)}) are omitted: every glibc has them. "
            "Regenerate with scripts/update-glibc-symbols.py."
        ),
        "baseline": {**baselines, "first_release": _text(GENERIC_BASELINE)},
        "first_release": first_release,
        "glibc": version,
        "symbols": symbols,
    }


def dump(doc: dict[str, object]) -> str:
    """Sorted JSON, one symbol per line: compact, yet diffs stay readable."""

    def table(entries: object, indent: str) -> str:
        assert isinstance(entries, dict)
        lines = [f"{indent} {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(entries.items())]
        return "{\n" + ",\n".join(lines) + "\n" + indent + "}"

    parts: list[str] = []
    for key, value in sorted(doc.items()):
        if key == "first_release":
            text = table(value, " ")
        elif key == "symbols":
            assert isinstance(value, dict)
            inner = [f"  {json.dumps(a)}: {table(t, '  ')}" for a, t in sorted(value.items())]
            text = "{\n" + ",\n".join(inner) + "\n }"
        else:
            text = json.dumps(value, sort_keys=True)
        parts.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _compare_debian(a: str, b: str) -> int:
    if subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0:
        return -1
    return 0 if a == b else 1


def _candidates(spec: str) -> list[str]:
    """SPEC itself, then (for a bare package name) every indexed source version, newest first."""
    name = re.split(r"[=/]", spec, maxsplit=1)[0]
    if name != spec:
        return [spec]
    out = subprocess.run(["apt-cache", "showsrc", name], capture_output=True, text=True, check=False)
    versions: set[str] = set()
    package = None
    for line in out.stdout.splitlines():
        if line.startswith("Package: "):
            package = line.split()[1]
        elif line.startswith("Version: ") and package == name:
            versions.add(line.split()[1])
    newest_first = sorted(versions, key=functools.cmp_to_key(_compare_debian), reverse=True)
    return [spec] + [f"{name}={v}" for v in newest_first]


def fetch(spec: str, workdir: Path) -> Path:
    for candidate in _candidates(spec):
        attempt = workdir / re.sub(r"[^\w.+-]", "_", candidate)
        attempt.mkdir()
        print(f"apt-get source {candidate}", file=sys.stderr)
        done = subprocess.run(["apt-get", "source", "-q", candidate], cwd=attempt, check=False)
        trees = [p for p in attempt.iterdir() if p.is_dir() and (p / "version.h").is_file()]
        if done.returncode == 0 and trees:
            return trees[0]
    raise SystemExit(
        f"apt-get source {spec} failed: add a deb-src entry (e.g. for trixie, whose glibc is 2.41) "
        "to /etc/apt/sources.list.d/, run apt-get update, or pass --source DIR"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, help="an unpacked glibc source tree")
    parser.add_argument("--package", default="glibc", help="apt-get source SPEC (default: glibc)")
    parser.add_argument("--output", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="glibc-src-") as tmp:
        tree = args.source if args.source else fetch(args.package, Path(tmp))
        doc = build(tree)
    text = dump(doc)
    json.loads(text)  # a malformed file must never be written
    args.output.write_text(text)
    symbols = doc["symbols"]
    assert isinstance(symbols, dict)
    counts = ", ".join(f"{arch} {len(table)}" for arch, table in symbols.items())
    print(f"wrote {args.output} from glibc {doc['glibc']} ({counts}; {len(text)} bytes)")


if __name__ == "__main__":
    main()
