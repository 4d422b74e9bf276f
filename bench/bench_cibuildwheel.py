"""Benchmark for issue 18: a real project's own cibuildwheel tests over the whole matrix of its
published wheels, wheelmatrix against the naive loop, printed as a ratio of one run.

The project (default propcache 0.5.4, whose sdist sets test-requires = "-r requirements/test.txt"
and test-command = "pytest -v --no-cov {project}/tests") is fetched from the index with its
Linux wheels (manylinux, x86_64 and aarch64, the CPython of each Debian cell): the sdist is
unpacked as the project directory, the wheels are its dist/.

- wheelmatrix: `wheelmatrix run dist/*.whl` in the project directory (no config of ours: the
  cibuildwheel settings become a scenario), Debian 11/12/13 x x86_64/aarch64, warm images and
  caches (one warm-up run first; then the median of --repeat runs), with `--scenario
  cibuildwheel` (the same work as the loop) and with the default import and symbols scenarios
  as well.
- naive loop: for each cell with a wheel, one after another, `docker run` of the same image +
  `python3 -m venv` + `pip install WHEEL <test-requires>` + the test-command from an empty
  directory, as a maintainer would script it.

Nothing is asserted: machines are noisy; read the ratio (and check both sides' counts).
Usage: python bench/bench_cibuildwheel.py [--project NAME==VERSION] [--repeat N] [--skip-loop]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "runner"), str(REPO)]

from packaging.utils import parse_wheel_filename  # noqa: E402

from bench.population import fetch_wheel, release_json  # noqa: E402
from wheelmatrix.backends.docker.connection import connect  # noqa: E402
from wheelmatrix.backends.docker.images import prepare  # noqa: E402
from wheelmatrix.config.catalog import DOCKER_PLATFORM, default_catalog_path, load_catalog  # noqa: E402
from wheelmatrix.config.cibuildwheel import identifier, read_project  # noqa: E402
from wheelmatrix.host import ca_bundle, cache_dir, index_settings  # noqa: E402

DISTROS = ("debian-11", "debian-12", "debian-13")
ARCHS = ("x86_64", "aarch64")


def fetch(name: str, version: str, pythons: set[str]) -> tuple[Path, list[Path]]:
    """The sdist and one manylinux wheel per (CPython of the matrix, arch), from the index."""
    dest = cache_dir() / "cibuildwheel-projects" / "files"
    doc = release_json(name, version, dest.parent)
    if doc is None:
        raise SystemExit(f"{name} {version} is not on the index")
    sdist, wheels = None, []
    for entry in doc["urls"]:
        filename, sha = entry["filename"], entry["digests"]["sha256"]
        if entry["packagetype"] == "sdist":
            sdist = fetch_wheel(name, version, filename, sha, dest)
            continue
        if not filename.endswith(".whl"):
            continue
        tags = parse_wheel_filename(filename)[3]
        wanted = any(
            t.interpreter in pythons and t.platform.startswith("manylinux") and t.platform.endswith(ARCHS)
            for t in tags
        )
        if wanted:
            wheels.append(fetch_wheel(name, version, filename, sha, dest))
    if sdist is None:
        raise SystemExit(f"{name} {version} has no sdist on the index")
    return sdist, wheels


def wheel_for(wheels: list[Path], python: str, arch: str) -> Path | None:
    interpreter = "cp" + python.replace(".", "")
    for wheel in wheels:
        tags = parse_wheel_filename(wheel.name)[3]
        if any(t.interpreter == interpreter and t.platform.endswith("_" + arch) for t in tags):
            return wheel
    return None


def timed(cmd: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    return time.perf_counter() - start, proc


def counts(text: str) -> str:
    """pytest's last summary line, as it printed it."""
    lines = [ln.strip("= ") for ln in text.splitlines() if ln.startswith("=") and " in " in ln]
    return lines[-1] if lines else "no pytest summary"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="propcache==0.5.4")
    parser.add_argument("--repeat", type=int, default=3, help="timed wheelmatrix runs (the median is used)")
    parser.add_argument("--skip-loop", action="store_true")
    args = parser.parse_args()
    name, version = args.project.split("==")

    catalog = load_catalog(default_catalog_path())
    cells = [(catalog.get(d), a) for d in DISTROS for a in ARCHS]
    sdist, wheels = fetch(name, version, {"cp" + d.python.replace(".", "") for d, _a in cells})
    work = Path(tempfile.mkdtemp(prefix="wm-bench-cibw-"))
    with tarfile.open(sdist) as tar:
        tar.extractall(work, filter="data")
    project = next(p for p in work.iterdir() if p.is_dir())
    settings = read_project(project / "pyproject.toml", environ={})
    print(f"{name} {version}: sdist {sdist.name}; wheels: {', '.join(w.name for w in wheels)}")

    client = connect().client
    images = {(d.id, a): prepare(client, d, a, print) for d, a in cells}
    matrix = [x for d in DISTROS for x in ("--distro", d)] + [x for a in ARCHS for x in ("--arch", a)]
    run = [
        sys.executable,
        "-m",
        "wheelmatrix",
        "run",
        *map(str, wheels),
        *matrix,
        "--runs-dir",
        str(work / "runs"),
    ]
    timed(run, project)  # warm-up: images, the uv cache, the cibuildwheel test requirements
    medians = {}
    for label, extra in (
        ("the project's tests only", ["--scenario", "cibuildwheel"]),
        ("+ import, symbols", []),
    ):
        times = []
        for _ in range(args.repeat):
            elapsed, proc = timed([*run, *extra, "--json", str(work / "report.json")], project)
            times.append(elapsed)
        print(proc.stdout[-1500:])
        medians[label] = statistics.median(times)
        took = medians[label]
        print(f"wheelmatrix run, {len(cells)} cells, {label}, warm: {took:6.1f} s (median of {args.repeat})")
    ours = medians["the project's tests only"]
    if args.skip_loop:
        return
    # the loop reaches the index as the cells do: this host's CA bundle, index and proxies
    net: list[str] = []
    ca = ca_bundle()
    if ca:
        net += ["-v", f"{ca}:/wm-ca.pem:ro", "-e", "PIP_CERT=/wm-ca.pem", "-e", "SSL_CERT_FILE=/wm-ca.pem"]
    idx = index_settings()
    if idx.index_url:
        net += ["-e", f"PIP_INDEX_URL={idx.index_url}"]
    for name, value in idx.proxy_env.items():
        net += ["-e", f"{name}={value}"]
    loop = 0.0
    for distro, arch in cells:
        wheel = wheel_for(wheels, distro.python, arch)
        if wheel is None:
            print(f"  loop {distro.id}/{arch}: no wheel for CPython {distro.python} (nothing to run)")
            continue
        tests = settings.resolve(identifier(distro.python, distro.libc.family, arch))
        assert tests.command is not None
        command = tests.command.text.replace("{project}", "/project").replace("{package}", "/project")
        requires = " ".join(shlex.quote(r) for r in tests.requires)
        script = (
            "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q "
            f'/dist/{shlex.quote(wheel.name)} {requires} && cd "$(mktemp -d)" && '
            f"PATH=/tmp/v/bin:$PATH sh -c {shlex.quote(command)}"
        )
        cmd = [
            "docker", "run", "--rm", "--platform", DOCKER_PLATFORM[arch], *net,
            "-v", f"{project}:/project", "-v", f"{wheel.parent}:/dist:ro",
            images[(distro.id, arch)], "sh", "-c", script,
        ]  # fmt: skip
        elapsed, proc = timed(cmd, work)
        loop += elapsed
        said = counts(proc.stdout) if proc.returncode == 0 else (proc.stdout + proc.stderr)[-300:]
        print(f"  loop {distro.id}/{arch}: {elapsed:6.1f} s, exit {proc.returncode}: {said}")
    print(f"naive docker run + venv + pip + tests loop: {loop:8.1f} s")
    print(f"RATIO (same work: the project's tests): loop / wheelmatrix = {loop / ours:.1f}x")
    both = medians["+ import, symbols"]
    print(f"  with wheelmatrix's default scenarios too: loop / wheelmatrix = {loop / both:.1f}x")


if __name__ == "__main__":
    main()
