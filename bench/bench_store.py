"""Reading stored results back: `wheelmatrix.run.rundir.load_results` on a stream of 100,000 realistic
results, against plain `json.loads` of every line (same file, same run), each in a fresh
subprocess. Prints wall time and peak RSS, the ratios to the baseline, and the targets.

Targets: 100,000 results read back in under 2 s and under 300 MB peak RSS.

Usage: python bench/bench_store.py [--only NAME] [--results N] [--repeat N] [--keep DIR]
Writes the stream through `ResultLog` (as a run does) into a temporary directory (or DIR).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO)]

from wheelmatrix.model import CheckResult, Status  # noqa: E402
from wheelmatrix.run.stream import ResultLog  # noqa: E402

TARGET_S = 2.0
TARGET_MB = 300.0


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_mb: float
    items: int


def measure(setup: str, timed: str, path: Path, repeat: int) -> Measured:
    """Run `setup` then, timed, `timed` (which reads `path` and sets `n`) in fresh interpreters.
    Median wall time of `timed`; the highest peak RSS of the whole process."""
    script = "\n".join(
        [
            "import json, resource, sys, time",
            f"sys.path.insert(0, {str(REPO / 'runner')!r})",
            "from pathlib import Path",
            "path = Path(sys.argv[1])",
            setup.strip(),
            "start = time.perf_counter()",
            timed.strip(),
            "elapsed = time.perf_counter() - start",
            "peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024",
            'print(json.dumps({"s": elapsed, "mb": peak_mb, "n": n}))',
        ]
    )
    runs = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"benchmark subprocess failed:\n{proc.stderr}")
        runs.append(json.loads(proc.stdout))
    return Measured(
        seconds=statistics.median(r["s"] for r in runs),
        peak_mb=max(r["mb"] for r in runs),
        items=runs[0]["n"],
    )


def report(name: str, ours: Measured, base: Measured, base_name: str) -> None:
    print(f"{name}: {ours.items} records")
    print(f"  {'load_results':<24} {ours.seconds:6.2f} s  {ours.peak_mb:6.0f} MB peak RSS")
    print(f"  {base_name:<24} {base.seconds:6.2f} s  {base.peak_mb:6.0f} MB peak RSS")
    print(
        f"  RATIO vs baseline: time {ours.seconds / base.seconds:.2f}x, "
        f"memory {ours.peak_mb / base.peak_mb:.2f}x"
    )
    ok_t = "ok" if ours.seconds < TARGET_S else "MISSED"
    ok_m = "ok" if ours.peak_mb < TARGET_MB else "MISSED"
    print(
        f"  RATIO vs target: time {ours.seconds / TARGET_S:.2f} of {TARGET_S:g} s ({ok_t}), "
        f"memory {ours.peak_mb / TARGET_MB:.2f} of {TARGET_MB:g} MB ({ok_m})"
    )


# --------------------------------------------------------------------------- store: read back

DISTROS = ("debian-11", "debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "fedora-40")
ARCHS = ("x86_64", "aarch64")
PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13")
SCENARIOS = (
    ("import", ""),
    ("symbols", ""),
    ("import", "known-bad-openblas"),
    ("import", "old-libstdcxx"),
    ("import-isolated", ""),
    ("entrypoints", ""),
)
CELLS = [(d, a, p, s, v) for d in DISTROS for a in ARCHS for p in PYTHONS for s, v in SCENARIOS]


def installed_for(python: str, distro: str) -> tuple[str, ...]:
    """30 pinned distributions; versions vary a little by Python and distro (as resolvers do)."""
    minor = int(python.split(".")[1])
    pins = [f"dep{i:02d}=={1 + i % 4}.{(i * 7 + minor) % 10}.{len(distro) % 3}" for i in range(27)]
    return (
        f"numpy=={'2.2.6' if minor < 11 else '2.3.0'}",
        "mypkg==1.4.0",
        f"setuptools=={70 + minor}.0.0",
        *pins,
    )


def output_tail(rng: random.Random, status: Status) -> str:
    """About 1 KB of a failing check's output: a traceback and some unique noise."""
    noise = rng.getrandbits(3200).to_bytes(400, "little").hex()
    lines = [noise[i : i + 80] for i in range(0, len(noise), 80)]
    last = "Fatal Python error: Segmentation fault" if status is Status.CRASHED else "ImportError: boom"
    return "Traceback (most recent call last):\n" + "\n".join(lines) + "\n" + last


def results(total: int, seed: int = 7) -> Iterator[tuple[str, list[CheckResult]]]:
    """(cell id, its results) for `total` results with distinct check ids: an install check
    and import checks, spread evenly over the cells."""
    rng = random.Random(seed)
    per_cell = -(-total // len(CELLS))
    checks = ["install", *(f"import mypkg.sub{i:03d}" for i in range(per_cell - 1))]
    made = 0
    for distro, arch, python, scenario, variant in CELLS:
        installed = installed_for(python, distro)
        wheel = f"mypkg-1.4.0-cp3{python[2:]}-cp3{python[2:]}-manylinux_2_28_{arch}.whl"
        sha = {wheel: f"{rng.getrandbits(256):064x}", "mydep-0.9-py3-none-any.whl": "a" * 64}
        image = f"sha256:{rng.getrandbits(256):064x}"
        batch = []
        for check in checks[: total - made]:
            roll = rng.random()
            status = Status.PASSED
            if roll >= 0.93:
                status = Status.FAILED if roll < 0.97 else Status.CRASHED if roll < 0.99 else Status.ERROR
            failing = status is not Status.PASSED
            batch.append(
                CheckResult(
                    distro=distro,
                    arch=arch,
                    python=python,
                    scenario=scenario,
                    variant=variant,
                    check=check,
                    status=status,
                    detail="ImportError: version `GLIBC_2.38' not found" if failing else "",
                    duration_s=rng.uniform(0.05, 3.0),
                    installer="uv",
                    wheels=tuple(sha),
                    evidence={
                        "returncode": 1 if failing else 0,
                        "signal": 11 if status is Status.CRASHED else None,
                        "output_tail": output_tail(rng, status) if failing else "",
                        "modules": [check.removeprefix("import ")],
                    },
                    diagnosis=f"needs glibc 2.38; {distro} has less" if failing else "",
                    image=image,
                    engine="docker 26.1.5 unix:///var/run/docker.sock",
                    wheel_sha256=sha,
                    installed=installed,
                    finished_at=1.75e9 + made,
                )
            )
            made += 1
        if batch:
            yield batch[0].cell_id, batch


def write_stream(path: Path, total: int) -> None:
    with ResultLog(path) as log:
        for cell, batch in results(total):
            for r in batch:
                log.add(r)
            log.cell_done(cell)


LOAD = (
    "from wheelmatrix.run.rundir import load_results",
    "loaded = load_results(path)\nn = len(loaded.results) + len(loaded.partial)",
)
PLAIN = (
    'docs = [json.loads(line) for line in path.open("rb")]\nn = sum(d.get("type") == "result" for d in docs)'
)
BASELINE = ("", PLAIN)
BASELINE_NO_GC = ("import gc\ngc.disable()", PLAIN)


def bench_store(args: argparse.Namespace, work: Path) -> None:
    stream = work / "results.jsonl"
    stream.unlink(missing_ok=True)  # ResultLog appends
    write_stream(stream, args.results)
    size_mb = stream.stat().st_size / 2**20
    print(f"stream: {stream} ({size_mb:.0f} MiB, {args.results} results)")
    base = measure(*BASELINE, stream, args.repeat)
    ours = measure(*LOAD, stream, args.repeat)
    report("read back", ours, base, "json.loads per line")
    no_gc = measure(*BASELINE_NO_GC, stream, args.repeat)
    print(
        f"  (the same json.loads with the cyclic GC off: {no_gc.seconds:.2f} s, {no_gc.peak_mb:.0f} MB; "
        f"load_results takes {ours.seconds / no_gc.seconds:.2f}x that time)"
    )


# --------------------------------------------------------------------------- plan: 10,000 cells
# The plan benchmark (10,000 cells from a config file) goes here: a function
# `bench_plan(args, work) -> None` that prints its own lines (`measure` and `report` above work
# for any code that sets `n`), registered in BENCHMARKS below; `--only plan` then runs it alone.

# --------------------------------------------------------------------------- registry

BENCHMARKS: dict[str, Callable[[argparse.Namespace, Path], None]] = {"store": bench_store}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=100_000, help="results in the stream")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median time)")
    parser.add_argument("--only", choices=sorted(BENCHMARKS), action="append", help="run only these")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep its files")
    args = parser.parse_args()
    names = args.only or list(BENCHMARKS)
    with tempfile.TemporaryDirectory(prefix="wheelmatrix-bench-store-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for name in names:
            BENCHMARKS[name](args, work)


if __name__ == "__main__":
    main()
