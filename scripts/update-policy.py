"""Regenerate wheelmatrix/data/policy.json from auditwheel's published policy files.

    python scripts/update-policy.py [AUDITWHEEL_WHEEL]

Without an argument, the newest auditwheel wheel is downloaded with pip (no install). For each
platform tag and arch we keep the highest version of each symbol namespace (GLIBC, GLIBCXX,
CXXABI, GCC, ...) and the list of system libraries a wheel may link against.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parents[1] / "runner" / "wheelmatrix" / "data" / "policy.json"
NUMERIC = re.compile(r"^\d+(\.\d+)*$")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def _ceilings(policy: dict[str, Any]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for arch in ("x86_64", "aarch64"):
        namespaces = policy["symbol_versions"].get(arch)
        if namespaces is None:
            continue
        out[arch] = {
            ns: max((v for v in versions if NUMERIC.match(v)), key=_key)
            for ns, versions in namespaces.items()
            if any(NUMERIC.match(v) for v in versions)
        }
    return out


def _table(policies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        p["name"]: {
            "aliases": p.get("aliases", []),
            "ceilings": _ceilings(p),
            "libs": sorted(p["lib_whitelist"]),
        }
        for p in policies
        if p["name"] != "linux"
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            wheel = Path(sys.argv[1])
        else:
            cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "auditwheel", "-d", tmp]
            subprocess.run(cmd, check=True)
            wheel = next(Path(tmp).glob("auditwheel-*.whl"))
        version = wheel.name.split("-")[1]
        with zipfile.ZipFile(wheel) as zf:
            many = json.loads(zf.read("auditwheel/policy/manylinux-policy.json"))
            musl = json.loads(zf.read("auditwheel/policy/musllinux-policy.json"))
    doc = {
        "_comment": (
            "Symbol-version ceilings and allowed system libraries per platform tag. Derived (max "
            "version per symbol namespace and arch) from pypa/auditwheel's policy files, "
            "src/auditwheel/policy/manylinux-policy.json and musllinux-policy.json, as published in "
            f"auditwheel {version}. Regenerate with scripts/update-policy.py."
        ),
        "manylinux": _table(many),
        "musllinux": _table(musl),
    }
    OUT.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT} from auditwheel {version}")


if __name__ == "__main__":
    main()
