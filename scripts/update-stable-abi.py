"""Regenerate wheelmatrix/data/stable-abi.json from CPython's own stable-ABI manifest.

    python scripts/update-stable-abi.py --source PATH     # Misc/stable_abi.toml, or a CPython tree
    python scripts/update-stable-abi.py [--package SPEC]  # apt-get source SPEC into a temp dir

CPython lists the Limited API and the Stable ABI in Misc/stable_abi.toml: one table per item
(`[function.PyType_FromSpec]`, `[data.PyExc_TypeError]`, `[struct.X]`, `[const.X]`, ...), each
with `added = '3.X'` (the release whose stable ABI first has it) and optional flags. Only
`function` and `data` items are symbols a linker sees, so only they are recorded, each with:

  added     the version string as the file gives it ("3.2" is the stable ABI's first release)
  also      point releases an `added` comment names as having it before (e.g. the 69 functions
            marked "3.7  # (and 3.6.1 and 3.5.3)"): kept for messages, not for judging
  abi_only  part of the stable ABI but not of the Limited API (called by the Limited API's
            macros, or once public): an abi3 extension may still reference it, so it counts
  ifdef     the feature macro it depends on (MS_WINDOWS, HAVE_FORK, USE_STACKCHECK,
            PY_HAVE_THREAD_NATIVE_ID, Py_REF_DEBUG); the macro's `doc` is recorded too, so a
            report can say "only on Windows" or "only in a debug build"

Without --source the script needs apt-get with a deb-src entry for a Debian suite whose
python3.X source package it can fetch, and tar (only the orig tarball is read; it is not
unpacked). SPEC defaults to `python3.13`; e.g. `python3.14` or `python3.13=3.13.5-2` pick another.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import tomllib

OUT = Path(__file__).resolve().parents[1] / "runner" / "wheelmatrix" / "data" / "stable-abi.json"
MANIFEST = "Misc/stable_abi.toml"
KINDS = ("function", "data")  # the items that are linker-visible symbols
# `added = '3.7'  # (and 3.6.1 and 3.5.3)`: earlier point releases that already had the item
_ALSO = re.compile(r"^\[(\w+)\.(\w+)\]|^\s*added\s*=\s*'[\d.]+'\s*#\s*\(and ([^)]*)\)")
_PATCHLEVEL = re.compile(r'#define\s+PY_VERSION\s+"([^"]+)"')


def _also(text: str) -> dict[str, list[str]]:
    """item name -> the point releases its `added` comment names ("and 3.6.1 and 3.5.3")."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = _ALSO.match(line)
        if m is None:
            continue
        if m.group(2):
            current = m.group(2)
        elif current is not None:
            out[current] = re.findall(r"\d+\.\d+(?:\.\d+)?", m.group(3))
    return out


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def build(text: str, source: str) -> dict[str, object]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SystemExit(f"{source}: not a TOML file ({exc})") from None
    if not all(isinstance(doc.get(kind), dict) for kind in KINDS):
        raise SystemExit(f"{source}: has no [function.*] and [data.*] tables: not Misc/stable_abi.toml?")
    macros = {name: str(entry.get("doc", "")) for name, entry in doc.get("feature_macro", {}).items()}
    also = _also(text)
    symbols: dict[str, dict[str, object]] = {}
    for kind in KINDS:
        for name, entry in doc[kind].items():
            added = entry.get("added")
            if not isinstance(added, str) or not re.fullmatch(r"3\.\d+", added):
                raise SystemExit(f"{source}: [{kind}.{name}] has no `added = '3.X'`")
            record: dict[str, object] = {"added": added, "kind": kind}
            if entry.get("abi_only"):
                record["abi_only"] = True
            if "ifdef" in entry:
                ifdef = str(entry["ifdef"])
                if ifdef not in macros:
                    raise SystemExit(f"{source}: [{kind}.{name}] depends on an undeclared macro {ifdef}")
                record["ifdef"] = ifdef
            if also.get(name):
                record["also"] = also[name]
            if name in symbols:
                raise SystemExit(f"{source}: {name} is listed twice")
            symbols[name] = record
    newest = max((str(r["added"]) for r in symbols.values()), key=_key)
    return {
        "_comment": (
            f"The stable ABI's functions and data (the symbols an abi3 extension may reference), from "
            f"{source}: for each, the release whose stable ABI first has it (`added`), whether it is "
            "abi_only (stable ABI, not Limited API: still allowed), the feature macro it depends on "
            "(`ifdef`, described under `feature_macros`) and the earlier point releases a comment of "
            "the manifest credits (`also`). Structs, constants, macros and typedefs are not symbols and "
            "are left out. Regenerate with scripts/update-stable-abi.py."
        ),
        "feature_macros": dict(sorted(macros.items())),
        "newest": newest,
        "source": source,
        "symbols": dict(sorted(symbols.items())),
    }


def dump(doc: dict[str, object]) -> str:
    """Sorted JSON, one symbol per line: compact, yet diffs stay readable."""
    parts: list[str] = []
    for key, value in sorted(doc.items()):
        if isinstance(value, dict) and key == "symbols":
            lines = [f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in value.items()]
            text = "{\n" + ",\n".join(lines) + "\n }"
        else:
            text = json.dumps(value, sort_keys=True)
        parts.append(f" {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def _from_tree(path: Path) -> tuple[str, str]:
    """(manifest text, source description) from a stable_abi.toml file or a CPython tree."""
    if path.is_file():
        return path.read_text(), f"{path.name} ({path})"
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise SystemExit(f"{manifest} is missing: pass Misc/stable_abi.toml or a CPython source tree")
    m = _PATCHLEVEL.search((path / "Include" / "patchlevel.h").read_text())
    return manifest.read_text(), f"CPython {m.group(1) if m else '(unknown version)'} {MANIFEST}"


def _from_tarball(tarball: Path, debian: str) -> tuple[str, str]:
    with tarfile.open(tarball) as tar:
        members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        if MANIFEST not in members:
            raise SystemExit(f"{tarball.name} holds no {MANIFEST}: not a CPython source tarball?")

        def read(name: str) -> str:
            fh = tar.extractfile(members[name])
            assert fh is not None
            return fh.read().decode()

        m = _PATCHLEVEL.search(read("Include/patchlevel.h")) if "Include/patchlevel.h" in members else None
        version = m.group(1) if m else "(unknown version)"
        return read(MANIFEST), f"CPython {version} {MANIFEST} (Debian source package {debian})"


def fetch(spec: str, workdir: Path) -> tuple[str, str]:
    print(f"apt-get source --download-only {spec}", file=sys.stderr)
    done = subprocess.run(["apt-get", "source", "--download-only", "-q", spec], cwd=workdir, check=False)
    tarballs = sorted(workdir.glob("*.orig.tar.*"))
    dscs = sorted(workdir.glob("*.dsc"))
    if done.returncode != 0 or not tarballs or not dscs:
        raise SystemExit(
            f"apt-get source {spec} failed: add a deb-src entry for a suite that has it (e.g. trixie for "
            "python3.13) to /etc/apt/sources.list.d/, run apt-get update, or pass --source PATH"
        )
    debian = dscs[0].stem.split("_", 1)[-1]
    return _from_tarball(tarballs[0], f"{spec.split('=')[0]} {debian}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    where = parser.add_mutually_exclusive_group()  # one manifest: a local file or tree, or apt's
    where.add_argument("--source", type=Path, help="Misc/stable_abi.toml or a CPython source tree")
    where.add_argument("--package", default="python3.13", help="apt-get source SPEC (default: python3.13)")
    parser.add_argument("--output", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    if args.source:
        text, source = _from_tree(args.source)
    else:
        with tempfile.TemporaryDirectory(prefix="cpython-src-") as tmp:
            text, source = fetch(args.package, Path(tmp))
    doc = build(text, source)
    out = dump(doc)
    json.loads(out)  # a malformed file must never be written
    args.output.write_text(out)
    symbols = doc["symbols"]
    assert isinstance(symbols, dict)
    print(f"wrote {args.output} from {source} ({len(symbols)} symbols, newest {doc['newest']})")


if __name__ == "__main__":
    main()
