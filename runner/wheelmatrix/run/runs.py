"""The list of runs (`wheelmatrix runs`) and the run to resume: run directories under a root,
newest first, with their state and counts (read from the stream while a run is running)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from wheelmatrix.errors import InputError, WheelmatrixError
from wheelmatrix.host import cache_dir
from wheelmatrix.run.rundir import KILLED, RunDir, effective_state, read_meta
from wheelmatrix.run.stream import STREAM, counts_by_status, quick_scan


def default_runs_root() -> Path:
    """Where run directories live unless the caller says otherwise."""
    return cache_dir() / "runs"


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    run_id: str
    path: Path
    started: float
    finished: float | None
    state: str  # running, finished, interrupted or killed
    cells_planned: int
    cells_done: int | None  # None: unknown (an unreadable stream)
    counts: Mapping[str, int]  # status -> checks, of complete cells
    source: str  # where the configuration came from
    config_hash: str


def list_runs(root: Path) -> list[RunSummary]:
    """Every run under `root`, newest first. Directories that are no (complete) run are skipped."""
    return _summaries(root, scan=True)


def latest_unfinished(root: Path, config_hash: str) -> RunDir | None:
    """The newest killed or interrupted run of this configuration, to resume; None if none."""
    for summary in _summaries(root, scan=False):
        if summary.state in (KILLED, "interrupted") and summary.config_hash == config_hash:
            try:
                return RunDir.open(summary.path)
            except InputError:
                continue
    return None


def _summaries(root: Path, *, scan: bool) -> list[RunSummary]:
    try:
        children = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    out = []
    for path in children:
        try:
            out.append(_summary(path, scan=scan))
        except Exception:  # a half-written or foreign directory: never break the listing
            continue
    out.sort(key=lambda s: s.started, reverse=True)
    return out


def _summary(path: Path, *, scan: bool) -> RunSummary:
    meta = read_meta(path)
    state = effective_state(meta)
    done, counts = meta.get("cells_done"), meta.get("counts")
    if scan and (state in ("running", KILLED) or done is None or not isinstance(counts, dict)):
        stream = path / STREAM
        try:
            done, counts = quick_scan(stream) if stream.is_file() else (0, counts_by_status(iter(())))
        except WheelmatrixError:
            done, counts = None, {}
    finished = meta.get("finished")
    return RunSummary(
        run_id=str(meta["run_id"]),
        path=path,
        started=float(meta["started"]),
        finished=float(finished) if isinstance(finished, (int, float)) else None,
        state=state,
        cells_planned=int(meta.get("cells") or 0),
        cells_done=int(done) if isinstance(done, int) else None,
        counts={str(k): int(v) for k, v in (counts or {}).items()},
        source=str(meta.get("source", "")),
        config_hash=str(meta.get("config_hash", "")),
    )
