"""Population run: `wheelmatrix scan` against `auditwheel show` (and `abi3audit` for abi3 wheels)
over the Linux binary wheels of the most-downloaded projects. Not run in CI; anyone can repeat it.

  python bench/population.py select [--top 1500] [--names a,b]   derive the population list
  python bench/population.py run [--list FILE] [--limit N] [--arch A] [--cache DIR] [--jobs J]

`select` reads the download ranks from a package list (a TSV with the columns name, version,
month, rank, summary), asks the index's JSON API for each ranked project's latest release and
keeps the projects that publish Linux binary wheels, with one wheel per arch (cp312, else abi3,
else py3) and the musllinux x86_64 wheel where there is one. It writes
bench/data/population-DATE.json (names, versions, ranks, files with sha256 and size; no URLs).

`run` downloads the chosen wheels once into the cache (sha256 verified, resumable), installs
auditwheel and abi3audit into a scratch venv under the cache, runs each tool on each wheel in
its own process with a timeout, and prints: wheels read / refused / crashed / timed out per tool;
agreement on the minimum glibc (or musl) version, on libraries outside the policy and on the
lowest satisfied tag, each disagreement with a named reason or UNEXPLAINED; abi3 violations
wheelmatrix misses; CPU time and peak RSS of wheelmatrix as ratios against auditwheel measured in
the same run. wheelmatrix's scan cache is pointed at an empty directory for every wheel.

The index is the host's pip configuration (index-url), else pip's own default.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime
import json
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUNNER = REPO / "runner"
DATA = REPO / "bench" / "data"
PACKAGE_LIST = Path("/work/.library/env/packages/pypi.tsv")
MAX_BYTES = 150 * 2**20
ARCHS = ("x86_64", "aarch64")
TOOLS = ("wheelmatrix", "auditwheel", "abi3audit")
sys.path.insert(0, str(RUNNER))

from wheelmatrix.host import ca_bundle, index_settings  # noqa: E402
from wheelmatrix.inputs.wheels import file_sha256  # noqa: E402

# --------------------------------------------------------------------------- the index


def json_api_base() -> str:
    """The JSON API root of the host's configured index (pip's default when none is set)."""
    url = index_settings().index_url
    if url:
        root = url.rstrip("/")
        return (root[: -len("/simple")] if root.endswith("/simple") else root) + "/pypi"
    from pip._internal.models.index import PyPI  # pip's own default index

    return str(PyPI.pypi_url).rstrip("/")


def _ssl_context() -> ssl.SSLContext:
    bundle = ca_bundle()
    return ssl.create_default_context(cafile=str(bundle) if bundle else None)


def _get(url: str, *, timeout: float = 60, headers: dict[str, str] | None = None) -> Any:
    req = urllib.request.Request(url, headers={"User-Agent": "wheelmatrix-bench", **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout, context=_ssl_context())


def release_json(name: str, version: str | None, cache: Path) -> dict[str, Any] | None:
    """The index's JSON for a release (the latest when version is None); cached; None if unknown."""
    key = f"{name}-{version}" if version else name
    store = cache / "json" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.json"
    fresh = store.is_file() and (version or time.time() - store.stat().st_mtime < 86400)
    if fresh:  # a release never changes; "latest" is remembered for a day
        return dict(json.loads(store.read_text()))
    doc = _fetch_json(f"{json_api_base()}/{name}/{version + '/' if version else ''}json")
    if doc is None and version:  # some indexes serve only the project's page: find the release there
        latest = _fetch_json(f"{json_api_base()}/{name}/json")
        if latest and latest["info"]["version"] == version:
            doc = latest
        elif latest and version in (latest.get("releases") or {}):
            doc = {"info": {**latest["info"], "version": version}, "urls": latest["releases"][version]}
    if doc is None:
        return None
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(doc))
    real = doc["info"]["version"]
    (cache / "json" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', f'{name}-{real}')}.json").write_text(json.dumps(doc))
    return doc


def _fetch_json(url: str) -> dict[str, Any] | None:
    try:
        with _get(url) as resp:
            doc = dict(json.load(resp))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise
    # file URLs may be relative to the page (a mirror's): make them absolute once
    for files in [doc.get("urls") or [], *(doc.get("releases") or {}).values()]:
        for f in files:
            f["url"] = urllib.parse.urljoin(url, f["url"])
    return doc


# --------------------------------------------------------------------------- choosing wheels


def _wheel_tags(filename: str) -> tuple[set[str], set[str], set[str]] | None:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return {t.interpreter for t in tags}, {t.abi for t in tags}, {t.platform for t in tags}


def is_linux_binary(filename: str) -> bool:
    parsed = _wheel_tags(filename)
    return parsed is not None and any("linux" in p for p in parsed[2])


def _python_rank(interpreters: set[str], abis: set[str]) -> int | None:
    """0 = cp312 build, 1 = abi3 usable on 3.12, 2 = py3 (pure interpreter tag); None = not for 3.12."""
    if "cp312" in interpreters and "cp312" in abis:
        return 0
    if "abi3" in abis and any(re.fullmatch(r"cp3(\d+)", i) and int(i[3:]) <= 12 for i in interpreters):
        return 1
    if "none" in abis and any(i in ("py3", "py2.py3") or i.startswith("py3") for i in interpreters):
        return 2
    return None


def _glibc_of(platforms: set[str], family: str, arch: str) -> tuple[int, int] | None:
    from wheelmatrix.scan.policy import parse_platform

    best: tuple[int, int] | None = None
    for p in platforms:
        parsed = parse_platform(p)
        if parsed and parsed[0] == family and parsed[2] == arch:
            best = parsed[1] if best is None else max(best, parsed[1])
    return best


def choose(files: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """slot (x86_64 / aarch64 / musllinux_x86_64) -> the file dict chosen for it."""
    out: dict[str, dict[str, Any]] = {}
    slots = [("x86_64", "manylinux", "x86_64"), ("aarch64", "manylinux", "aarch64")]
    slots.append(("musllinux_x86_64", "musllinux", "x86_64"))
    for slot, family, arch in slots:
        ranked = []
        for f in files:
            parsed = _wheel_tags(f["filename"])
            if parsed is None:
                continue
            rank = _python_rank(parsed[0], parsed[1])
            level = _glibc_of(parsed[2], family, arch)
            if rank is None or level is None:
                continue
            # best Python match first, then the newest platform tag (what pip picks on a current distro)
            ranked.append(((rank, (-level[0], -level[1])), f))
        if ranked:
            out[slot] = min(ranked, key=lambda r: r[0])[1]
    return out


def ranked_names(top: int, package_list: Path) -> list[tuple[str, int]]:
    out = []
    with package_list.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            rank = (row.get("rank_among_15000_most_downloaded") or "").strip()
            if rank and int(rank) <= top:
                out.append((row["name"], int(rank)))
    return sorted(out, key=lambda nr: nr[1])


def select(args: argparse.Namespace) -> None:
    cache = args.cache
    names = ranked_names(args.top, args.package_list)
    ranked = {n for n, _ in names}
    extra = [
        (n, 0) for n in dict.fromkeys(args.names.split(",") if args.names else []) if n and n not in ranked
    ]
    projects, skipped_big, no_binary, unknown = [], [], 0, []
    from rich.progress import track

    for name, rank in track([*names, *extra], description="index JSON"):
        doc = release_json(name, None, cache)
        if doc is None:
            unknown.append(name)
            continue
        files = [
            f for f in doc.get("urls", []) if f.get("packagetype") == "bdist_wheel" and not f.get("yanked")
        ]
        if not any(is_linux_binary(f["filename"]) for f in files):
            no_binary += 1
            continue
        chosen = []
        for slot, f in sorted(choose(files).items()):
            entry = {
                "slot": slot,
                "filename": f["filename"],
                "sha256": f["digests"]["sha256"],
                "size": f["size"],
            }
            (skipped_big if f["size"] > MAX_BYTES else chosen).append(entry)
        projects.append(
            {"name": name, "version": doc["info"]["version"], "rank": rank or None, "wheels": chosen}
        )
    today = datetime.date.today().isoformat()
    out = args.out or DATA / f"population-{today}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc_out = {
        "date": today,
        "selection": f"ranked <= {args.top} in {args.package_list.name}"
        + (f" plus {args.names}" if extra else ""),
        "looked_up": len(names) + len(extra),
        "without_linux_binary_wheels": no_binary,
        "unknown_to_index": unknown,
        "skipped_over_150_MB": skipped_big,
        "projects": projects,
    }
    out.write_text(json.dumps(doc_out, indent=1) + "\n")
    print(
        f"{len(projects)} projects with Linux binary wheels of {len(names) + len(extra)} looked up; "
        f"{sum(len(p['wheels']) for p in projects)} wheels chosen, {len(skipped_big)} over 150 MB skipped "
        f"-> {out}"
    )


# --------------------------------------------------------------------------- downloads


def fetch_wheel(
    name: str,
    version: str,
    filename: str,
    sha256: str,
    dest: Path,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """The wheel `filename` of name==version in dest/, downloaded once (sha256 verified, resumed)."""
    target = dest / filename
    if target.is_file() and file_sha256(target) == sha256:
        return target
    doc = release_json(name, version, dest.parent)
    if doc is None:
        raise RuntimeError(f"{name} {version} is not on the index")
    entry = next((f for f in doc["urls"] if f["filename"] == filename), None)
    if entry is None:
        raise RuntimeError(f"{name} {version} has no file {filename} on the index")
    dest.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    have = partial.stat().st_size if partial.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with _get(entry["url"], timeout=120, headers=headers) as resp:
        mode = "ab" if have and resp.status == 206 else "wb"
        if mode == "wb" and progress and have:
            progress(-have)
        with partial.open(mode) as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
                if progress:
                    progress(len(chunk))
    got = file_sha256(partial)
    if got != sha256:
        partial.unlink()
        raise RuntimeError(f"{filename}: sha256 {got} is not the expected {sha256}")
    partial.rename(target)
    return target


@dataclass(frozen=True)
class Wheel:
    project: str
    version: str
    rank: int | None
    slot: str
    filename: str
    sha256: str
    size: int
    path: Path = field(default=Path())

    @property
    def abi3(self) -> bool:
        parsed = _wheel_tags(self.filename)
        return parsed is not None and "abi3" in parsed[1]


def download_all(wheels: list[Wheel], cache: Path) -> list[Wheel]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    dest = cache / "wheels"
    out = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()
    ) as bar:
        task = bar.add_task("wheels", total=sum(w.size for w in wheels))
        for w in wheels:
            bar.update(task, description=w.filename[:50])
            try:
                path = fetch_wheel(
                    w.project, w.version, w.filename, w.sha256, dest, lambda n: bar.advance(task, n)
                )
            except (OSError, RuntimeError) as exc:
                bar.console.print(f"[red]could not fetch {w.filename}: {exc}")
                continue
            if (dest / w.filename).stat().st_mtime < time.time() - 5:  # cached: count it as done
                bar.advance(task, w.size)
            out.append(Wheel(**{**w.__dict__, "path": path}))
    return out


# --------------------------------------------------------------------------- running tools


@dataclass(frozen=True)
class Outcome:
    status: str  # read | refused | crashed | timeout
    rc: int | None
    cpu: float  # user + sys seconds of the tool's process
    maxrss_kib: int
    wall: float
    output: Any = None  # parsed JSON when read
    error: str = ""


# A small process that forks the tool and reports its rusage. The tool must not be forked from
# this (large) process: Linux carries the forking process's resident size into the child's
# ru_maxrss across exec, so every tool would seem to peak at least at this script's size.
LAUNCHER = """
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": os.waitstatus_to_exitcode(status), "cpu": ru.ru_utime + ru.ru_stime,
               "maxrss": ru.ru_maxrss}, fh)
"""


def measure(
    cmd: list[str], *, env: dict[str, str], timeout: float, cwd: Path
) -> tuple[int | None, float, int, float, str, str]:
    """Run cmd in a fresh process: (rc, or None on timeout; CPU s; peak RSS KiB; wall s; out; err)."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        usage_file = Path(tmp) / "rusage.json"
        launcher = [sys.executable, "-S", "-I", "-c", LAUNCHER, str(usage_file), *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(launcher, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        if not usage_file.is_file():
            return None, 0.0, 0, wall, stdout, stderr
        usage = json.loads(usage_file.read_text())
        return usage["rc"], usage["cpu"], usage["maxrss"], wall, stdout, stderr


def measurement_floor() -> int:
    """Peak RSS (KiB) the launcher alone leaves in a child's ru_maxrss (a lower bound of every figure)."""
    with tempfile.TemporaryDirectory() as tmp:
        return measure(["true"], env=dict(os.environ), timeout=30, cwd=Path(tmp))[2]


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


CONSOLE_SCRIPT = "import sys; from wheelmatrix.cli import main; sys.exit(main())"


def run_wheelmatrix(w: Wheel, work: Path, timeout: float) -> Outcome:
    report = work / "scan.json"
    scan_cache = work / "wm-cache"  # empty for every wheel: the scan cache must not answer
    env = {**os.environ, "PYTHONPATH": str(RUNNER), "WHEELMATRIX_CACHE": str(scan_cache)}
    # compiled bytecode, as an installed wheelmatrix has (auditwheel's venv has its .pyc files)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work.parent / "pycache")
    # started as the `wheelmatrix` console script starts it (and as auditwheel's own script
    # starts auditwheel), not through `-m`, which adds runpy's start-up
    cmd = [sys.executable, "-c", CONSOLE_SCRIPT, "scan", str(w.path), "--json", str(report)]
    rc, cpu, rss, wall, out, err = measure(cmd, env=env, timeout=timeout, cwd=work)
    if rc is None:
        return Outcome("timeout", rc, cpu, rss, wall)
    if rc in (0, 1) and report.is_file():
        return Outcome("read", rc, cpu, rss, wall, json.loads(report.read_text())["static_scan"][0])
    status = "crashed" if "Traceback" in err or rc < 0 else "refused"
    return Outcome(status, rc, cpu, rss, wall, error=_last_line(err or out))


def run_auditwheel(w: Wheel, work: Path, timeout: float, tools: Path) -> Outcome:
    cmd = [str(tools / "bin" / "auditwheel"), "show", "--json", str(w.path)]
    rc, cpu, rss, wall, out, err = measure(cmd, env=dict(os.environ), timeout=timeout, cwd=work)
    if rc is None:
        return Outcome("timeout", rc, cpu, rss, wall)
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    if rc == 0 and isinstance(doc, dict) and "overall_tag" in doc:
        return Outcome("read", rc, cpu, rss, wall, doc)
    error = doc.get("error") if isinstance(doc, dict) else None
    message = str(error.get("message", "") if isinstance(error, dict) else error or "")
    status = "crashed" if "Traceback" in err or rc < 0 else "refused"
    return Outcome(status, rc, cpu, rss, wall, error=(message or _last_line(err or out))[:300])


def run_abi3audit(w: Wheel, work: Path, timeout: float, tools: Path) -> Outcome:
    report = work / "abi3.json"
    cmd = [str(tools / "bin" / "abi3audit"), "--report", "-o", str(report), str(w.path)]
    rc, cpu, rss, wall, out, err = measure(cmd, env=dict(os.environ), timeout=timeout, cwd=work)
    if rc is None:
        return Outcome("timeout", rc, cpu, rss, wall)
    if report.is_file() and report.stat().st_size:
        return Outcome("read", rc, cpu, rss, wall, json.loads(report.read_text()))
    status = "crashed" if "Traceback" in err or rc < 0 else "refused"
    return Outcome(status, rc, cpu, rss, wall, error=_last_line(err or out))


def tools_venv(cache: Path) -> Path:
    venv = cache / "tools"
    if not (venv / "bin" / "auditwheel").exists() or not (venv / "bin" / "abi3audit").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "auditwheel", "abi3audit"]
        subprocess.run(pip, check=True)
    return venv


def tool_versions(venv: Path) -> dict[str, str]:
    out = {}
    for tool in ("auditwheel", "abi3audit"):
        proc = subprocess.run([str(venv / "bin" / "pip"), "show", tool], capture_output=True, text=True)
        out[tool] = next((ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("Version:")), "?")
    return out


def audit_one(w: Wheel, cache: Path, tools: Path, timeout: float) -> dict[str, Outcome]:
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        work = Path(tmp)
        got = {
            "wheelmatrix": run_wheelmatrix(w, work, timeout),
            "auditwheel": run_auditwheel(w, work, timeout, tools),
        }
        if w.abi3:
            got["abi3audit"] = run_abi3audit(w, work, timeout, tools)
        return got


# --------------------------------------------------------------------------- comparing answers


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


@dataclass(frozen=True)
class Answers:
    """What a tool says about one wheel, in comparable terms."""

    floor: str | None  # "glibc 2.28" / "musl 1.2" / None (needs none)
    outside: frozenset[str]  # libraries outside the policy, not shipped
    lowest_tag: str | None  # lowest tag the wheel satisfies


def wheelmatrix_answers(scan: dict[str, Any], w: Wheel) -> tuple[Answers, list[str]]:
    """Answers computed from the scan JSON, and the gaps that computing them had to bridge."""

    gaps = []
    files = scan["files"]
    needs: dict[str, tuple[int, ...]] = {}
    for f in files:
        for label in f["requires"]:
            ns, _, ver = label.rpartition("_")
            if ns == "GLIBC":  # the highest GLIBC version label, as auditwheel's versioned_symbols
                needs[ns] = max(needs.get(ns, ()), _vkey(ver))
    musl = "musllinux" in w.filename
    family = "musllinux" if musl else "manylinux"
    outside = frozenset(
        fi["library"] for fi in scan["findings"] if fi["kind"] == "unshipped-library" and fi.get("library")
    )
    arch = "aarch64" if "aarch64" in w.filename else "x86_64"
    # the lowest tag as `scan` itself says it ("this constrains the platform tag to ...")
    lowest = next(
        (t["tag"] for t in scan.get("lowest_tags", []) if t["family"] == family and t["arch"] == arch), None
    )
    if musl:
        m = re.match(r"musllinux_(\d+)_(\d+)_", lowest or "")
        floor = f"musl {m.group(1)}.{m.group(2)}" if m else None
    else:
        floor = "glibc " + ".".join(map(str, needs["GLIBC"])) if "GLIBC" in needs else None
    if not files:
        gaps.append("no ELF files")
    return Answers(floor=floor, outside=outside, lowest_tag=lowest), gaps


def auditwheel_answers(doc: dict[str, Any], w: Wheel) -> Answers:
    glibc = [
        _vkey(v.split("_", 1)[1])
        for versions in doc["versioned_symbols"].values()
        for v in versions
        if v.startswith("GLIBC_")
    ]
    tag = doc["overall_tag"]
    if "musllinux" in tag:
        m = re.match(r"musllinux_(\d+)_(\d+)", tag)
        floor = f"musl {m.group(1)}.{m.group(2)}" if m else None
    else:
        floor = "glibc " + ".".join(map(str, max(glibc))) if glibc else None
    outside = frozenset(doc["external_libs"])
    return Answers(
        floor=floor, outside=outside, lowest_tag=tag if tag != "linux_" + tag.split("_")[-1] else None
    )


def _tag_level(tag: str | None) -> tuple[int, ...]:
    from wheelmatrix.scan.policy import parse_platform

    parsed = parse_platform(tag) if tag else None
    return parsed[1] if parsed else (99, 99)


# Known reasons the two tools answer differently; explain() names one only on evidence.
REASONS = {
    "musl": "musl has no symbol versions: auditwheel cannot read musl's version on a glibc host and "
    "assumes its newest musllinux policy; wheelmatrix finds nothing that needs more than musllinux_1_1",
    "executables": "auditwheel does not count executables",
    "host": "auditwheel resolved the library on the host rather than in the wheel",
    "unfound": "the wheel ships the library but nothing points auditwheel at it (no RPATH)",
    "isa": "auditwheel's ISA-extension check raised its tag",
    "no-tag": "a library outside the policy: both refuse a manylinux tag (auditwheel says linux_*)",
    "host-floor": "auditwheel's floor counts the symbol versions of libraries it resolved on the host, "
    "outside the wheel",
    "families": "the wheel claims manylinux and musllinux in one file; the tools report different families",
    "oldest-policy": "auditwheel's external_libs are judged against its oldest policy (manylinux_2_5); "
    "the wheel's own tag allows the library (libmvec.so.1 from manylinux_2_24)",
    "transitive": "auditwheel also lists what the host's copy of an outside library needs (libxcb.so.1 -> "
    "libXau, libXdmcp, libbsd, libmd); wheelmatrix names what the wheel's files need",
    "soname": "the wheel ships the library under another file name with this SONAME (auditwheel repair's "
    "renamed copy): the dynamic linker reuses it once a sibling loaded it; auditwheel looks for the file "
    "name",
}


# Known causes of a tool's crash, matched against its last error line.
CRASH_NOTES = {
    r"ELFError: Magic number does not match": " -- auditwheel looks up the musl libc's SONAME libc.so "
    "on the glibc host and opens /lib/x86_64-linux-gnu/libc.so, a linker script",
}


def _glibc_floor(files: Iterable[dict[str, Any]]) -> tuple[int, ...]:
    return max(
        (_vkey(label[6:]) for f in files for label in f["requires"] if label.startswith("GLIBC_")), default=()
    )


def explain(what: str, ours: Answers, theirs: Answers, scan: dict[str, Any], aw: dict[str, Any]) -> str:
    """The named reason for one disagreement, checked against both tools' evidence, or UNEXPLAINED."""
    files = scan["files"]
    libraries = [f for f in files if _is_lib_path(f["path"])]
    name = str(scan.get("wheel", ""))
    if what in ("floor", "tag") and "manylinux" in name and "musllinux" in name:
        return REASONS["families"]
    if what == "tag" and ours.lowest_tag is None and str(theirs.lowest_tag).startswith("linux_"):
        return REASONS["no-tag"]
    if (
        what == "floor"
        and ours.lowest_tag is None
        and ours.outside
        and theirs.floor
        and _vkey(theirs.floor) > _vkey(ours.floor or "")
    ):
        return REASONS["host-floor"]
    musl = "musllinux" in str(theirs.lowest_tag) and what in ("floor", "tag")
    if musl and ours.lowest_tag and _tag_level(ours.lowest_tag) < _tag_level(theirs.lowest_tag):
        return REASONS["musl"]
    if what in ("floor", "tag") and theirs.floor and (ours.floor or "").startswith("glibc"):
        ours_v, theirs_v = _vkey(ours.floor or ""), _vkey(theirs.floor)
        if ours_v > theirs_v and _glibc_floor(libraries) == theirs_v:
            return REASONS["executables"]
        if what == "tag" and ours_v == theirs_v and aw.get("unsupported_isa"):
            return REASONS["isa"]
    if what == "outside":
        from wheelmatrix.scan.policy import policies

        names = {Path(f["path"]).name for f in files}
        only_aw, only_wm = theirs.outside - ours.outside, ours.outside - theirs.outside
        needed = {n for f in files for n in f["needed"]}
        oldest = policies()["manylinux_2_5"].libs
        platforms = name.removesuffix(".whl").split("-")[-1].split(".")
        claimed = [_tag_level(t) for t in platforms if "manylinux" in t] or [(2, 5)]
        own = policies().get("manylinux_{}_{}".format(*min(claimed)))
        if only_aw and own and not only_wm and all(lib in own.libs and lib not in oldest for lib in only_aw):
            return REASONS["oldest-policy"]
        if only_aw and not only_wm and ours.outside and not only_aw & needed:
            return REASONS["transitive"]
        sonames = {f.get("soname") for f in files} - {None}
        if only_aw and not only_wm and all(lib in sonames and lib not in names for lib in only_aw):
            return REASONS["soname"]
        if only_aw and all(lib in names for lib in only_aw):
            found = [aw["external_libs"].get(lib) for lib in only_aw]
            return REASONS["host"] if all(found) else REASONS["unfound"]
        lib_needs = {n for f in libraries for n in f["needed"]}
        if only_wm and not (only_wm & lib_needs):
            return REASONS["executables"]
    return "UNEXPLAINED"


def _is_lib_path(path: str) -> bool:
    return ".so" in Path(path).name


# --------------------------------------------------------------------------- the run


def load_population(path: Path | None) -> tuple[Path, dict[str, Any]]:
    if path is None:
        found = sorted(DATA.glob("population-*.json"))
        if not found:
            raise SystemExit("no bench/data/population-*.json: run `python bench/population.py select` first")
        path = found[-1]
    return path, json.loads(path.read_text())


def population_wheels(doc: dict[str, Any], arch: str | None) -> list[Wheel]:
    out = []
    for p in doc["projects"]:
        for f in p["wheels"]:
            if arch and not f["slot"].endswith(arch):
                continue
            out.append(
                Wheel(p["name"], p["version"], p["rank"], f["slot"], f["filename"], f["sha256"], f["size"])
            )
    return out


def run(args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.progress import track

    console = Console()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    list_path, doc = load_population(args.list)
    wheels = population_wheels(doc, args.arch)[: args.limit or None]
    console.print(f"population {list_path.name}: {len(wheels)} wheels of {len(doc['projects'])} projects")
    wheels = download_all(wheels, cache)
    venv = tools_venv(cache)
    versions = tool_versions(venv)
    versions["measurement floor (KiB)"] = str(measurement_floor())
    if wheels:  # unmeasured warm-up: bytecode of both tools compiled, their code in the page cache
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            run_wheelmatrix(wheels[0], Path(tmp), args.timeout)
            run_auditwheel(wheels[0], Path(tmp), args.timeout, venv)
    results: list[tuple[Wheel, dict[str, Outcome]]] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(audit_one, w, cache, venv, args.timeout) for w in wheels]
        for fut in track(
            concurrent.futures.as_completed(futures), total=len(futures), description="auditing"
        ):
            del fut
        results = [(w, f.result()) for w, f in zip(wheels, futures, strict=True)]
    summary = summarise(results, versions)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    print_summary(summary)


def summarise(results: list[tuple[Wheel, dict[str, Outcome]]], versions: dict[str, str]) -> dict[str, Any]:
    counts: dict[str, Counter[str]] = {t: Counter() for t in TOOLS}
    problems: dict[str, list[str]] = {t: [] for t in TOOLS}
    agree: dict[str, Counter[str]] = {k: Counter() for k in ("floor", "outside", "tag")}
    disagreements: list[dict[str, Any]] = []
    abi3_missed: list[dict[str, Any]] = []
    perf = []
    gaps: Counter[str] = Counter()
    aw_read_wm_not = []
    answers: dict[str, dict[str, Any]] = {}
    for w, got in results:
        for tool, o in got.items():
            counts[tool][o.status] += 1
            if o.status != "read":
                note = next((n for pattern, n in CRASH_NOTES.items() if re.search(pattern, o.error)), "")
                problems[tool].append(f"{w.filename}: {o.status} ({o.error or o.rc}){note}")
        wm, aw = got["wheelmatrix"], got["auditwheel"]
        if aw.status == "read" and wm.status != "read":
            aw_read_wm_not.append(w.filename)
        perf.append(
            {
                "wheel": w.filename,
                "size": w.size,
                "wm_cpu": wm.cpu,
                "aw_cpu": aw.cpu,
                "wm_rss": wm.maxrss_kib,
                "aw_rss": aw.maxrss_kib,
            }
        )
        if "abi3audit" in got and got["abi3audit"].status == "read":
            violations = _abi3_violations(got["abi3audit"].output)
            ours_abi3 = (
                [
                    f.get("symbol") or f.get("message", "")
                    for f in (wm.output or {}).get("findings", [])
                    if str(f.get("kind", "")).startswith("abi3")
                ]
                if wm.status == "read"
                else []
            )
            if violations and not ours_abi3:
                own = _defined_by_wheel(w.path, [str(v).split(": ", 1)[-1] for v in violations])
                abi3_missed.append(
                    {
                        "wheel": w.filename,
                        "violations": violations[:5],
                        "count": len(violations),
                        "reason": "abi3audit counts Py* names the wheel defines itself (wheelmatrix "
                        "judges only undefined symbols)"
                        if own
                        else "UNEXPLAINED",
                    }
                )
        if wm.status != "read" or aw.status != "read":
            continue
        ours, wm_gaps = wheelmatrix_answers(wm.output, w)
        gaps.update(wm_gaps)
        theirs = auditwheel_answers(aw.output, w)
        answers[w.filename] = {
            tool: {"floor": a.floor, "outside": sorted(a.outside), "lowest_tag": a.lowest_tag}
            for tool, a in (("wheelmatrix", ours), ("auditwheel", theirs))
        }
        pairs = {
            "floor": (ours.floor, theirs.floor),
            "outside": (sorted(ours.outside), sorted(theirs.outside)),
            "tag": (ours.lowest_tag, theirs.lowest_tag),
        }
        for what, (a, b) in pairs.items():
            if a == b:
                agree[what]["agree"] += 1
                continue
            reason = explain(what, ours, theirs, wm.output, aw.output)
            agree[what][reason] += 1
            disagreements.append(
                {"what": what, "wheel": w.filename, "wheelmatrix": a, "auditwheel": b, "reason": reason}
            )
    return {
        "wheels": len(results),
        "versions": versions,
        "counts": {t: dict(c) for t, c in counts.items()},
        "problems": problems,
        "auditwheel_reads_wheelmatrix_not": aw_read_wm_not,
        "agreement": {k: dict(v) for k, v in agree.items()},
        "disagreements": disagreements,
        "abi3_violations_wheelmatrix_misses": abi3_missed,
        "gaps": dict(gaps),
        "perf": perf,
        "answers": answers,
    }


def _defined_by_wheel(path: Path, names: list[str]) -> bool:
    """Whether every one of `names` is exported by an ELF file of the wheel itself."""
    from wheelmatrix.scan.elf import iter_wheel_elves

    exported = {name for elf in iter_wheel_elves(path) for name in elf.exports}
    return bool(names) and all(n in exported for n in names)


def _abi3_violations(report: dict[str, Any]) -> list[str]:
    out = []
    for spec in report.get("specs", {}).values():
        for obj in spec.get("wheel", []) or []:
            res = obj.get("result") or {}
            for sym in res.get("non_abi3_symbols", []) or []:
                out.append(f"{obj['name']}: {sym if isinstance(sym, str) else sym.get('name', sym)}")
            if res.get("is_abi3_baseline_compatible") is False:
                out.append(
                    f"{obj['name']}: needs abi3 {res.get('computed')} > baseline {res.get('baseline')}"
                )
    return out


def print_summary(s: dict[str, Any]) -> None:
    v = s["versions"]
    print(f"\n== {s['wheels']} wheels; auditwheel {v['auditwheel']}, abi3audit {v['abi3audit']}")
    floor = v["measurement floor (KiB)"]
    print(f"(peak RSS is measured in a fresh child; the launcher alone shows {floor} KiB)")
    for tool in TOOLS:
        c = s["counts"][tool]
        counts = "  ".join(f"{k} {c.get(k, 0):3}" for k in ("refused", "crashed"))
        print(f"{tool:12} read {c.get('read', 0):4}  {counts}  timed out {c.get('timeout', 0):3}")
        for line in s["problems"][tool][:15]:
            print(f"    {line}")
    print(f"auditwheel reads but wheelmatrix does not: {len(s['auditwheel_reads_wheelmatrix_not'])}")
    for name in s["auditwheel_reads_wheelmatrix_not"]:
        print(f"    {name}")
    labels = {
        "floor": "minimum glibc/musl",
        "outside": "libraries outside the policy",
        "tag": "lowest satisfied tag",
    }
    for what, label in labels.items():
        a = s["agreement"][what]
        total = sum(a.values())
        print(f"{label}: agree {a.get('agree', 0)}/{total}")
        for reason, n in sorted(a.items(), key=lambda kv: -kv[1]):
            if reason != "agree":
                print(f"    {n:4}  {reason}")
    unexplained = [d for d in s["disagreements"] if d["reason"] == "UNEXPLAINED"]
    print(f"UNEXPLAINED disagreements: {len(unexplained)}")
    for d in unexplained[:40]:
        print(
            f"    [{d['what']}] {d['wheel']}: wheelmatrix {d['wheelmatrix']} vs auditwheel {d['auditwheel']}"
        )
    missed = s["abi3_violations_wheelmatrix_misses"]
    print(f"abi3 wheels with abi3audit violations wheelmatrix does not report: {len(missed)}")
    for m in missed[:10]:
        print(f"    {m['wheel']}: {m['count']} e.g. {m['violations'][0]} -- {m['reason']}")
    print("gaps bridged computing wheelmatrix's answers from its JSON:")
    for gap, n in s["gaps"].items():
        print(f"    {n:4}  {gap}")
    perf = [p for p in s["perf"] if p["aw_cpu"] > 0]
    if perf:
        wm = sum(p["wm_cpu"] for p in perf)
        aw = sum(p["aw_cpu"] for p in perf)
        print(
            f"CPU time (user+sys) over {len(perf)} wheels: wheelmatrix {wm:.1f} s, auditwheel {aw:.1f} s "
            f"-> auditwheel / wheelmatrix = {aw / wm:.2f}x (goal >= 5x)"
        )
        small = [p for p in perf if p["size"] < 2**20]
        if small:
            wm_small, aw_small = (statistics.median(p[k] for p in small) for k in ("wm_cpu", "aw_cpu"))
            print(
                f"  start-up dominates small wheels: median over the {len(small)} wheels under 1 MiB "
                f"wheelmatrix {wm_small:.2f} s, auditwheel {aw_small:.2f} s; on the rest "
                f"{sum(p['wm_cpu'] for p in perf if p not in small):.1f} s vs "
                f"{sum(p['aw_cpu'] for p in perf if p not in small):.1f} s"
            )
        worse_mem = [p for p in perf if p["wm_rss"] > p["aw_rss"]]
        print(
            f"peak RSS: wheelmatrix above auditwheel on {len(worse_mem)}/{len(perf)} wheels (goal 0); "
            f"max wheelmatrix {max(p['wm_rss'] for p in perf) / 1024:.0f} MiB, "
            f"max auditwheel {max(p['aw_rss'] for p in perf) / 1024:.0f} MiB"
        )
        print("worst CPU ratios (wheelmatrix / auditwheel):")
        for p in sorted(perf, key=lambda p: -p["wm_cpu"] / max(p["aw_cpu"], 1e-3))[:8]:
            ratio = p["wm_cpu"] / max(p["aw_cpu"], 1e-3)
            print(
                f"    {ratio:5.2f}  {p['wm_cpu']:6.2f} s vs {p['aw_cpu']:6.2f} s"
                f"  {p['size'] / 2**20:6.1f} MiB  {p['wheel']}"
            )
        print("worst peak-RSS ratios (wheelmatrix / auditwheel):")
        for p in sorted(perf, key=lambda p: -p["wm_rss"] / max(p["aw_rss"], 1))[:8]:
            print(
                f"    {p['wm_rss'] / max(p['aw_rss'], 1):5.2f}  {p['wm_rss'] / 1024:6.0f} MiB vs "
                f"{p['aw_rss'] / 1024:6.0f} MiB  {p['wheel']}"
            )


def main() -> None:
    default_cache = Path(tempfile.gettempdir()) / "wheelmatrix-population"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sel = sub.add_parser("select", help="derive the population list from the index")
    sel.add_argument("--top", type=int, default=1500, help="download ranks to look up (default 1500)")
    sel.add_argument("--names", help="comma-separated extra projects to include")
    sel.add_argument("--package-list", type=Path, default=PACKAGE_LIST)
    sel.add_argument("--out", type=Path)
    sel.add_argument("--cache", type=Path, default=default_cache)
    r = sub.add_parser("run", help="download, audit and compare")
    r.add_argument("--list", type=Path, help="population JSON (default: the newest in bench/data)")
    r.add_argument("--limit", type=int, default=0, help="first N wheels only")
    r.add_argument("--arch", choices=ARCHS)
    r.add_argument("--cache", type=Path, default=default_cache)
    r.add_argument("--jobs", type=int, default=1, help="wheels audited at once (CPU ratios stay per process)")
    r.add_argument("--timeout", type=float, default=600, help="seconds per tool and wheel")
    r.add_argument("--json", type=Path, help="write the whole summary as JSON")
    args = parser.parse_args()
    (select if args.command == "select" else run)(args)


if __name__ == "__main__":
    main()
