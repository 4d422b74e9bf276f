"""Popular stacks, companions unpinned: does wheelmatrix raise a false alarm on what people
install together? (Not run in CI: real installs from the package index, minutes per stack.)

For every stack and target (Debian 12 x86_64, Debian 12 aarch64, Debian 13 x86_64 by
default) it runs `wheelmatrix validate STACK` with the default scenarios, then imports the
stack's modules in a plain cell of the same image in both orders (`wheelmatrix repro ... --
python -c "import a, b"` and reversed). A failing check where both plain import orders pass and
whose finding names no mechanism is a FALSE ALARM (goal: 0). Every other failure must carry a
finding that names its cause (a missing system library in a minimal image is a real failure).

Usage: python bench/stacks.py [--stack NAME ...] [--target debian-12/x86_64 ...] [--jobs N]
       python bench/stacks.py --list
Prints one line per stack and target, then the totals; `--json FILE` keeps everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# name -> (requirements, modules to import). Companions unpinned on purpose: today's releases.
STACKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "scientific": (("numpy", "scipy"), ("numpy", "scipy.linalg", "scipy.sparse")),
    "dataframe": (("pandas", "pyarrow"), ("pandas", "pyarrow", "pyarrow.parquet")),
    "polars": (("polars", "pyarrow"), ("polars", "pyarrow")),
    "sklearn-arrow": (("scikit-learn", "pyarrow"), ("sklearn", "pyarrow")),
    "plotting": (("matplotlib", "numpy", "pillow"), ("matplotlib", "numpy", "PIL.Image")),
    "imaging": (("pillow", "opencv-python-headless", "scikit-image"), ("PIL.Image", "cv2", "skimage")),
    "ml-trees": (("scikit-learn", "xgboost", "lightgbm"), ("sklearn", "xgboost", "lightgbm")),
    "onnx": (("onnxruntime", "numpy"), ("onnxruntime", "numpy")),
    "numba": (("numba", "numpy", "scipy"), ("numba", "numpy", "scipy")),
    "web-api": (("fastapi", "uvicorn", "pydantic", "orjson"), ("fastapi", "uvicorn", "pydantic", "orjson")),
    "aiohttp": (
        ("aiohttp", "yarl", "multidict", "frozenlist"),
        ("aiohttp", "yarl", "multidict", "frozenlist"),
    ),
    "crypto": (
        ("cryptography", "bcrypt", "pynacl"),
        ("cryptography.hazmat.bindings._rust", "bcrypt", "nacl"),
    ),
    "postgres": (("psycopg2-binary", "asyncpg", "sqlalchemy"), ("psycopg2", "asyncpg", "sqlalchemy")),
    "psycopg3": (("psycopg[binary]", "greenlet"), ("psycopg", "greenlet")),
    "mysql-redis": (("mysqlclient", "redis", "hiredis"), ("MySQLdb", "redis", "hiredis")),
    "geospatial": (("shapely", "pyproj", "numpy"), ("shapely", "pyproj", "numpy")),
    "xml-html": (("lxml", "beautifulsoup4", "markupsafe"), ("lxml.etree", "bs4", "markupsafe")),
    "compression": (("zstandard", "lz4", "brotli"), ("zstandard", "lz4.frame", "brotli")),
    "rpc": (("grpcio", "protobuf"), ("grpc", "google.protobuf")),
    "serialization": (("msgpack", "ujson", "pyyaml", "orjson"), ("msgpack", "ujson", "yaml", "orjson")),
    "hdf5": (("h5py", "numpy", "pandas"), ("h5py", "numpy", "pandas")),
    "zeromq": (("pyzmq", "tornado"), ("zmq", "tornado")),
    "text": (("regex", "rapidfuzz", "tokenizers"), ("regex", "rapidfuzz", "tokenizers")),
    "jsonschema": (("jsonschema", "rpds-py", "pydantic-core"), ("jsonschema", "rpds", "pydantic_core")),
    "gevent": (("gevent", "greenlet", "psutil"), ("gevent", "greenlet", "psutil")),
    "cffi-stack": (("cffi", "cryptography", "argon2-cffi"), ("cffi", "cryptography", "argon2")),
    "notebook-kernel": (("ipykernel", "pyzmq", "psutil"), ("ipykernel", "zmq", "psutil")),
    "pdf": (("pymupdf", "pillow"), ("fitz", "PIL.Image")),
}
TARGETS = ("debian-12/x86_64", "debian-12/aarch64", "debian-13/x86_64", "debian-13/aarch64")
DEFAULT_TARGETS = TARGETS[:3]  # Debian 13 aarch64 on request: the slowest emulated target
# finding kinds that name no mechanism: a failure with one of these where plain imports pass
UNNAMED = {"check-failed", "information", "crash", "timeout"}


@dataclass
class Outcome:
    stack: str
    target: str
    rc: int
    seconds: float
    failing: list[dict[str, Any]] = field(default_factory=list)
    plain: dict[str, bool] = field(default_factory=dict)  # "forward"/"reverse" -> imports passed
    error: str = ""

    @property
    def false_alarms(self) -> list[dict[str, Any]]:
        if not self.plain or not all(self.plain.values()):
            return []
        return [f for f in self.failing if (f.get("finding") or {}).get("kind", "check-failed") in UNNAMED]

    @property
    def unexplained(self) -> list[dict[str, Any]]:
        return [f for f in self.failing if not (f.get("finding") or {}).get("message")]


def wheelmatrix(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """This checkout's wheelmatrix, run from an empty directory as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "wheelmatrix", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": str(REPO / "runner")},
    )


def run_one(stack: str, target: str, timeout: float) -> Outcome:
    reqs, modules = STACKS[stack]
    distro, arch = target.split("/")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wm-stack-") as tmp:
        report = Path(tmp) / "report.json"
        try:
            proc = wheelmatrix(
                "validate", *reqs, "--distro", distro, "--arch", arch,
                "--json", str(report), "--runs-dir", str(Path(tmp) / "runs"), timeout=timeout,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            took = time.monotonic() - started
            return Outcome(stack, target, -1, took, error=f"timed out after {timeout:.0f} s")
        out = Outcome(stack, target, proc.returncode, time.monotonic() - started)
        if not report.exists():
            said = (proc.stderr or proc.stdout).strip().splitlines()
            out.error = said[-1] if said else "no report"
            return out
        doc = json.loads(report.read_text())
        out.failing = [
            {
                "check": r["check"],
                "status": r["status"],
                "detail": r["detail"][:200],
                "finding": r.get("finding"),
            }
            for r in doc["results"]
            if r["status"] in ("failed", "crashed", "timed-out", "error")
        ]
    if out.failing:
        for order, mods in (("forward", modules), ("reverse", tuple(reversed(modules)))):
            code = "import " + ", ".join(mods)
            try:
                plain = wheelmatrix(
                    "repro", *reqs, "--distro", distro, "--arch", arch, "--no-bundle",
                    "--", "python", "-c", code, timeout=timeout,
                )  # fmt: skip
                out.plain[order] = plain.returncode == 0
            except subprocess.TimeoutExpired:
                out.plain[order] = False
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", action="append", choices=sorted(STACKS), help="only these stacks")
    ap.add_argument("--target", action="append", choices=TARGETS, help="only these targets")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per wheelmatrix command")
    ap.add_argument("--json", type=Path, help="write every outcome here")
    ap.add_argument("--list", action="store_true", help="print the stacks and exit")
    args = ap.parse_args(argv)
    if args.list:
        for name, (reqs, mods) in STACKS.items():
            print(f"{name:16} {' '.join(reqs):60} imports {', '.join(mods)}")
        return 0
    stacks = args.stack or list(STACKS)
    targets = args.target or list(DEFAULT_TARGETS)
    outcomes: list[Outcome] = []
    for stack in stacks:
        for target in targets:
            o = run_one(stack, target, args.timeout)
            outcomes.append(o)
            plain = "/".join(f"{k}:{'ok' if v else 'FAIL'}" for k, v in o.plain.items()) or "-"
            kinds = sorted({(f.get("finding") or {}).get("kind", "?") for f in o.failing})
            print(
                f"{stack:16} {target:18} rc={o.rc:<3} {o.seconds:6.0f} s  failing={len(o.failing):<3} "
                f"kinds={','.join(kinds) or '-'}  plain={plain}  false-alarms={len(o.false_alarms)}"
                + (f"  ERROR {o.error}" if o.error else ""),
                flush=True,
            )
            for f in o.false_alarms:
                print(f"    FALSE ALARM {f['check']}: {f['status']} {f['detail']}")
            for f in o.unexplained:
                print(f"    UNEXPLAINED {f['check']}: {f['status']} {f['detail']}")
    alarms = sum(len(o.false_alarms) for o in outcomes)
    unexplained = sum(len(o.unexplained) for o in outcomes)
    real = sum(len(o.failing) - len(o.false_alarms) for o in outcomes)
    errors = sum(1 for o in outcomes if o.error)
    print(
        f"\n{len(outcomes)} stack/target runs ({len(stacks)} stacks x {len(targets)} targets): "
        f"{alarms} false alarms (goal 0), {real} real failing checks, {unexplained} without a finding "
        f"(goal 0), {errors} runs that gave no report"
    )
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=2) + "\n")
    return 1 if alarms or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
