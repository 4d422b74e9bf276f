"""Results on disk: one directory per run, the JSON-lines result stream, and reading results
back (resume, compare, merge).

A run directory (by default `<cache>/runs/<run_id>/`) holds:

  meta.json      what the run is and how far it got: run id, start/finish time, state, pid and
                 host of the writer, config hash and source, cells planned (and, once finished
                 or interrupted, cells done and counts by status); rewritten atomically
  config.json    the resolved configuration (a JSON object given by the caller)
  plan.json      the planned cell ids, in order
  results.jsonl  the stream: a header line, then one line per result and a `cell-done` marker
                 after the last result of each cell; flushed line by line
  run.log        a plain-text log
  report.json …  the final reports, written by the caller (`RunDir.report_path`)

Reading a stream back: a torn or corrupt last line is ignored (a killed writer); a corrupt line
anywhere else is an error naming the file and line. Only cells with a `cell-done` marker count
as results; results of other cells are kept apart as `partial`, so a resumed run re-runs exactly
the incomplete cells and nothing is counted twice. A cell run twice keeps its last complete run.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wheelmatrix import __version__
from wheelmatrix.errors import InputError, WheelmatrixError
from wheelmatrix.fsutil import atomic_write_json, pid_alive
from wheelmatrix.host import cache_dir
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, ValuePool, cell_id

META = "meta.json"
CONFIG = "config.json"
PLAN = "plan.json"
STREAM = "results.jsonl"
LOG = "run.log"

# States written to meta.json. A run whose meta says "running" but whose writer is gone is
# reported as "killed" (never written: it is what a reader concludes).
RUN_STATES = ("running", "finished", "interrupted")
KILLED = "killed"

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_INPUT_HINT = "expected a run directory, a results.jsonl stream, or a JSON report written by wheelmatrix"


def default_runs_root() -> Path:
    """Where run directories live unless the caller says otherwise."""
    return cache_dir() / "runs"


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of a resolved configuration (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- writing


class ResultLog:
    """Thread-safe collector that also appends each result to a JSON-lines stream as it lands.

    A new stream starts with a header line; a writer that appends to an existing stream (a
    resumed run) first writes a `resume` marker, which tells readers that cells left incomplete
    before it are abandoned. Every line is flushed when written, so a killed writer loses at
    most the line it was writing; a torn last line left by one is repaired before appending.
    """

    def __init__(self, stream_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._results: list[CheckResult] = []
        self._stream: IO[str] | None = None
        self.path = stream_path
        if stream_path is not None:
            stream_path.parent.mkdir(parents=True, exist_ok=True)
            existing = _repair_tail(stream_path)
            self._stream = stream_path.open("a", encoding="utf-8")
            now = round(time.time(), 3)
            if existing:
                self._write({"type": "resume", "at": now, "pid": os.getpid()})
            else:
                header = {"type": "header", "schema": SCHEMA_VERSION, "tool": "wheelmatrix"}
                self._write({**header, "version": __version__, "at": now})

    def add(self, result: CheckResult) -> None:
        with self._lock:
            self._results.append(result)
            if self._stream is not None:
                self._write({"type": "result", **result.to_json()})

    def cell_done(self, cell_id: str) -> None:
        """Mark a cell complete; call after the last result of the cell was added."""
        with self._lock:
            if self._stream is not None:
                self._write({"type": "cell-done", "cell_id": cell_id, "at": round(time.time(), 3)})

    @property
    def results(self) -> list[CheckResult]:
        """The results added through this log (not those of earlier writers of the stream)."""
        with self._lock:
            return list(self._results)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None

    def __enter__(self) -> ResultLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, record: Mapping[str, Any]) -> None:
        assert self._stream is not None
        self._stream.write(json.dumps(record) + "\n")
        self._stream.flush()


def _repair_tail(path: Path) -> bool:
    """Make an existing stream end at a line boundary; True if it holds anything.

    A last line without its newline is kept (newline added) if it is a whole JSON object,
    else cut off: appending after it would turn a torn last line into a corrupt middle one."""
    try:
        fh = path.open("rb+")
    except FileNotFoundError:
        return False
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return False
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return True
        tail, pos = b"", size
        while pos > 0 and b"\n" not in tail:
            step = min(1 << 16, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
        cut = pos + tail.rfind(b"\n") + 1  # 0 when the file has no newline at all
        torn = tail[tail.rfind(b"\n") + 1 :]
        try:
            whole = isinstance(json.loads(torn), dict)
        except ValueError:
            whole = False
        if whole:
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
            return True
        fh.truncate(cut)
        return cut > 0


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, kw_only=True)
class LoadedResults:
    """Results read back from a run directory, a results.jsonl stream or a JSON report."""

    results: list[CheckResult]  # complete cells only, one per check id (a re-run keeps the last)
    partial: list[CheckResult]  # results of cells without a cell-done marker (streams only)
    run: dict[str, Any]  # the run's meta.json, or the report's "run" object; {} if unknown
    source: Path  # the file or directory read
    complete_cells: set[str]  # cell ids with a cell-done marker (reports: every cell present)
    kind: str  # "run" (a run directory), "stream" or "report"
    schema: int  # 1: wheelmatrix 0.1 (no ids, no markers), 2: current


StoredResults = LoadedResults  # what `RunDir.stored()` returns


def load_results(path: Path) -> LoadedResults:
    """Read results from a run directory, a results.jsonl stream or a JSON report.

    Raises InputError for anything else, for a report or stream of an unknown schema, and for
    a stream with a corrupt line before its last one (naming the file and line)."""
    if path.is_dir():
        return RunDir.open(path).stored()
    if not path.is_file():
        raise InputError(f"{path} does not exist", hint=_INPUT_HINT)
    if _looks_like_stream(path):
        results, partial, complete, schema = _read_stream(path)
        return LoadedResults(
            results=results,
            partial=partial,
            run=_sibling_meta(path),
            source=path,
            complete_cells=complete,
            kind="stream",
            schema=schema,
        )
    return _read_report(path)


def _looks_like_stream(path: Path) -> bool:
    if path.suffix == ".jsonl":
        return True
    if path.suffix == ".json":
        return False
    with path.open("rb") as fh:
        first = fh.readline(1 << 20)
    try:
        doc = json.loads(first)
    except ValueError:
        return False  # a report written with indent starts with a lone "{"
    return isinstance(doc, dict) and ("type" in doc or "status" in doc)


def _sibling_meta(stream: Path) -> dict[str, Any]:
    meta = stream.with_name(META)
    if stream.name != STREAM or not meta.is_file():
        return {}
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _read_report(path: Path) -> LoadedResults:
    with _no_cyclic_gc():
        try:
            doc = json.loads(path.read_bytes())
        except ValueError as exc:
            raise InputError(f"{path} is not valid JSON ({exc})", hint=_INPUT_HINT) from None
        if not (
            isinstance(doc, dict)
            and doc.get("tool") == "wheelmatrix"
            and isinstance(doc.get("results"), list)
        ):
            raise InputError(
                f'{path} is not a wheelmatrix report (no "tool": "wheelmatrix" with a "results" list)',
                hint=_INPUT_HINT,
            )
        schema = doc.get("schema", 1)
        if schema not in (1, SCHEMA_VERSION) or isinstance(schema, bool):
            raise InputError(
                f"{path} is a wheelmatrix report of schema {schema!r}; "
                f"this wheelmatrix ({__version__}) reads schema 1 to {SCHEMA_VERSION}",
                hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
            )
        pool = ValuePool()
        by_check: dict[str, CheckResult] = {}
        for index, entry in enumerate(doc["results"]):
            try:
                if not isinstance(entry, dict):
                    raise ValueError(f"a {type(entry).__name__}, not an object")
                result = CheckResult.from_json(entry, pool=pool)
            except ValueError as exc:
                raise InputError(f"{path}: results[{index}] is not a check result: {exc}") from None
            by_check[result.check_id] = result
    run = doc.get("run")
    return LoadedResults(
        results=list(by_check.values()),
        partial=[],
        run=dict(run) if isinstance(run, dict) else {},
        source=path,
        complete_cells={r.cell_id for r in by_check.values()},
        kind="report",
        schema=int(schema),
    )


# (cell id, key of the check within the cell, value kept for it), from one result record.
_Convert = Callable[[Mapping[str, Any]], tuple[str, str, Any]]


class _StreamFold:
    """The stream's rules, shared by the full reader and the quick scan of `list_runs`."""

    def __init__(self) -> None:
        self.complete: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, Any]] = {}
        self.stale: set[str] = set()
        self.schema = 1
        self.markers = False

    def result(self, cell: str, key: str, value: Any) -> None:
        if cell in self.stale:  # its earlier, abandoned attempt is replaced by this one
            self.stale.discard(cell)
            self.pending[cell] = {}
        self.pending.setdefault(cell, {})[key] = value

    def cell_done(self, cell: str) -> None:
        self.markers = True
        attempt = self.pending.pop(cell, {})
        if cell in self.stale:
            self.stale.discard(cell)
            attempt = {}
        self.complete[cell] = attempt

    def resume(self) -> None:
        self.stale = set(self.pending)

    def finish(self) -> None:
        """Schema-1 streams have no markers: every cell in them counts as complete."""
        if self.schema == 1 and not self.markers:
            for cell, attempt in self.pending.items():
                self.complete.setdefault(cell, {}).update(attempt)
            self.pending = {}


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Bulk reads allocate ~10 containers per record and free none: without this the cyclic
    GC scans the growing heap again and again (several times the whole read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _stdlib_loads(data: bytes | str) -> Any:
    return json.loads(data)


try:  # orjson parses a stream about 4x faster than the standard library (same results)
    import orjson

    _loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    _loads = _stdlib_loads


class _LineDecoder:
    """json.loads for stream lines, faster for result lines as `ResultLog` writes them.

    Their keys come in `to_json` order, so each ends with `, "image": …, "installed": [...]`
    before `, "finished_at"`: the cell's provenance, about two thirds of the line and the same
    for every check of a cell. That part is parsed once per cell and reused (after checking it
    holds exactly those keys, and the rest none of them); any other line is parsed whole.
    `, "` cannot occur inside a JSON string (the quote would be escaped), so the two cut
    points are key boundaries; the last `, "image"` is the record's own, as evidence (which may
    nest one) comes before it."""

    PREFIX = b'{"type": "result", '
    START = b', "image": "'
    END = b', "finished_at": '
    KEYS = frozenset({"image", "engine", "tool_version", "wheel_sha256", "installed"})
    LIMIT = 4096  # distinct cells remembered

    def __init__(self, pool: ValuePool | None) -> None:
        self.pool = pool
        self.decode = _loads
        self.tails: dict[bytes, dict[str, Any] | None] = {}

    def __call__(self, raw: bytes) -> Any:
        if self.decode is not _stdlib_loads:  # orjson: a whole line costs less than the split
            return self.decode(raw)
        if raw.startswith(self.PREFIX):
            start, end = raw.rfind(self.START), raw.rfind(self.END)
            if 0 < start < end:
                tail = raw[start:end]
                if tail in self.tails:
                    shared = self.tails[tail]
                else:
                    shared = self._provenance(tail)
                    if len(self.tails) >= self.LIMIT:
                        self.tails.clear()
                    self.tails[tail] = shared
                if shared is not None:
                    doc = self.decode(raw[:start] + raw[end:])
                    if isinstance(doc, dict) and self.KEYS.isdisjoint(doc):
                        doc.update(shared)
                        return doc
        return self.decode(raw)

    def _provenance(self, tail: bytes) -> dict[str, Any] | None:
        try:
            doc = self.decode(b"{" + tail[2:] + b"}")
        except ValueError:
            return None
        if not isinstance(doc, dict) or doc.keys() != self.KEYS:
            return None
        pool = self.pool
        if pool is not None:  # share them once here rather than look them up per record
            try:
                doc.update(
                    installed=pool.texts(doc["installed"] or ()),
                    wheel_sha256=pool.mapping(doc["wheel_sha256"] or {}),
                )
            except (TypeError, AttributeError):
                return None  # malformed: let the whole line be parsed and rejected
        return doc


def _fold_stream(path: Path, convert: _Convert, pool: ValuePool | None = None) -> _StreamFold:
    with _no_cyclic_gc():
        return _fold_stream_lines(path, convert, _LineDecoder(pool))


def _fold_stream_lines(path: Path, convert: _Convert, decode: _LineDecoder) -> _StreamFold:
    fold = _StreamFold()
    bad: tuple[int, str] | None = None
    good = False
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if raw.isspace():
                continue
            if bad is not None:
                raise InputError(
                    f"{path}, line {bad[0]}: corrupt record ({bad[1]})",
                    hint="only the last line of a stream may be torn (a killed writer); "
                    "remove or fix that line",
                )
            try:
                doc = decode(raw)
                if not isinstance(doc, dict):
                    raise ValueError(f"a {type(doc).__name__}, not an object")
                kind = doc.get("type")
                if kind == "result" or (kind is None and "status" in doc):
                    fold.result(*convert(doc))
                elif kind == "cell-done":
                    fold.cell_done(str(doc["cell_id"]))
                elif kind == "resume":
                    fold.resume()
                elif kind == "header":
                    fold.schema = _stream_schema(path, lineno, doc)
                else:
                    raise ValueError("not a wheelmatrix stream record" if kind is None else f"type {kind!r}")
                good = True
            except (ValueError, KeyError, TypeError) as exc:
                text = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                bad = (lineno, text[:200])
                if not good and raw.endswith(b"\n"):  # a whole first line that is not ours
                    raise InputError(
                        f"{path}, line {lineno}: not a wheelmatrix results stream ({bad[1]})",
                        hint=_INPUT_HINT,
                    ) from None
    fold.finish()
    return fold


def _stream_schema(path: Path, lineno: int, doc: Mapping[str, Any]) -> int:
    schema = doc.get("schema")
    if doc.get("tool") != "wheelmatrix":
        raise InputError(
            f"{path}, line {lineno}: a stream header not written by wheelmatrix", hint=_INPUT_HINT
        )
    if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
        raise InputError(
            f"{path} is a wheelmatrix stream of schema {schema!r}; "
            f"this wheelmatrix ({__version__}) reads schema 1 to {SCHEMA_VERSION}",
            hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
        )
    return schema


def _read_stream(path: Path) -> tuple[list[CheckResult], list[CheckResult], set[str], int]:
    pool = ValuePool()
    record = pool.record  # = CheckResult.from_json(doc, pool=pool)

    def convert(doc: Mapping[str, Any]) -> tuple[str, str, CheckResult]:
        result = record(doc)
        return result.cell_id, result.check, result

    fold = _fold_stream(path, convert, pool)
    results = [r for attempt in fold.complete.values() for r in attempt.values()]
    partial = [r for attempt in fold.pending.values() for r in attempt.values()]
    return results, partial, set(fold.complete), fold.schema


def _quick_scan(path: Path) -> tuple[int, dict[str, int]]:
    """(cells done, counts by status) of a stream, without building result records."""

    def convert(doc: Mapping[str, Any]) -> tuple[str, str, str]:
        cell = doc.get("cell_id") or cell_id(
            str(doc["distro"]),
            str(doc["arch"]),
            str(doc["python"]),
            str(doc["scenario"]),
            str(doc.get("variant", "")),
        )
        return str(cell), str(doc["check"]), str(doc["status"])

    fold = _fold_stream(path, convert)
    return len(fold.complete), _counts(s for attempt in fold.complete.values() for s in attempt.values())


def _counts(statuses: Iterator[str]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in Status), 0)
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


# --------------------------------------------------------------------------- run directories


@dataclass(frozen=True, kw_only=True)
class ResumeState:
    """What a resumed run carries over and what it still has to run."""

    run_id: str
    plan: tuple[str, ...]  # every planned cell id, in order
    done: frozenset[str]  # planned cells with a complete record
    todo: tuple[str, ...]  # planned cells to (re-)run, in plan order
    results: tuple[CheckResult, ...]  # the complete cells' results, kept
    partial: tuple[CheckResult, ...]  # results of incomplete cells, discarded (re-run)


class RunDir:
    """One run's directory. Make one with `RunDir.create`, reopen one with `RunDir.open`."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self._meta = meta
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- create / open

    @classmethod
    def create(
        cls,
        root: Path,
        run_id: str,
        *,
        config: Mapping[str, Any],
        config_hash: str,
        cells: Sequence[str],
        source: str,
    ) -> RunDir:
        if not _RUN_ID.fullmatch(run_id):
            raise InputError(
                f"'{run_id}' is not a usable run id",
                hint="use letters, digits, '.', '_' and '-' (at most 128), starting with a letter or digit",
            )
        root.mkdir(parents=True, exist_ok=True)
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            raise InputError(
                f"a run '{run_id}' already exists in {root}", hint="pick another run id"
            ) from None
        atomic_write_json(path / CONFIG, dict(config))
        atomic_write_json(path / PLAN, list(cells))
        pid = os.getpid()
        meta: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "run_id": run_id,
            "started": round(time.time(), 3),
            "finished": None,
            "state": "running",
            "pid": pid,
            "pid_started": _process_start(pid),
            "host": socket.gethostname(),
            "tool_version": __version__,
            "config_hash": config_hash,
            "source": source,
            "cells": len(cells),
            "cells_done": None,
            "counts": None,
            "resumed": [],
        }
        atomic_write_json(path / META, meta)  # last: a directory without it is no run (yet)
        return cls(path, meta)

    @classmethod
    def open(cls, path: Path) -> RunDir:
        return cls(path, _read_meta(path))

    # ----------------------------------------------------------------- contents

    @property
    def run_id(self) -> str:
        return str(self._meta["run_id"])

    @property
    def meta(self) -> dict[str, Any]:
        """meta.json as last written by this object (or read when opened)."""
        with self._lock:
            return copy.deepcopy(self._meta)

    @property
    def state(self) -> str:
        """The state in meta.json, or "killed" for a run whose writer is gone."""
        with self._lock:
            return _effective_state(self._meta)

    @property
    def config(self) -> dict[str, Any]:
        doc = self._read_json(CONFIG)
        if not isinstance(doc, dict):
            raise InputError(f"{self.path / CONFIG} is not a JSON object")
        return doc

    @property
    def plan(self) -> list[str]:
        doc = self._read_json(PLAN)
        if not (isinstance(doc, list) and all(isinstance(c, str) for c in doc)):
            raise InputError(f"{self.path / PLAN} is not a list of cell ids")
        return doc

    @property
    def stream_path(self) -> Path:
        return self.path / STREAM

    def report_path(self, name: str) -> Path:
        """Where to write a final report (e.g. "report.json", "junit.xml") in this run."""
        if not name or Path(name).name != name or name in (META, CONFIG, PLAN, STREAM, LOG):
            raise ValueError(f"not a report file name: {name!r}")
        return self.path / name

    def log(self, text: str) -> None:
        """Append to run.log, each line with a timestamp."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        lines = "".join(f"{stamp} {line}\n" for line in (text.splitlines() or [""]))
        with self._lock, (self.path / LOG).open("a", encoding="utf-8") as fh:
            fh.write(lines)

    def result_log(self) -> ResultLog:
        """A ResultLog appending to this run's stream (a resumed run continues the same file)."""
        return ResultLog(self.stream_path)

    def stored(self) -> StoredResults:
        """Everything in the stream so far (see `load_results`)."""
        if self.stream_path.is_file():
            results, partial, complete, schema = _read_stream(self.stream_path)
        else:
            results, partial, complete, schema = [], [], set(), SCHEMA_VERSION
        return LoadedResults(
            results=results,
            partial=partial,
            run=self.meta,
            source=self.path,
            complete_cells=complete,
            kind="run",
            schema=schema,
        )

    # ----------------------------------------------------------------- state

    def mark(self, state: str, counts: Mapping[str, int] | None = None) -> None:
        """Record the run's state in meta.json (atomically).

        "running" (again: a resume) records this process as the writer. "finished" and
        "interrupted" record the time, the cells done and the counts by status (`counts`, or
        counted from the stream)."""
        if state not in RUN_STATES:
            raise ValueError(f"unknown run state {state!r}; one of {', '.join(RUN_STATES)}")
        with self._lock:
            meta = dict(self._meta)
        if state == "running":
            pid = os.getpid()
            if meta.get("state") != "running" or meta.get("pid") != pid:
                meta["resumed"] = [*meta.get("resumed", []), round(time.time(), 3)]
            meta.update(
                state=state,
                finished=None,
                pid=pid,
                pid_started=_process_start(pid),
                host=socket.gethostname(),
                tool_version=__version__,
                cells_done=None,
                counts=None,
            )
        else:
            done: int | None
            try:
                stored = self.stored()
                done = len(stored.complete_cells)
                found = _counts(r.status.value for r in stored.results)
            except WheelmatrixError:  # a corrupt stream: keep what the caller knows
                done, found = None, {}
            meta.update(
                state=state,
                finished=round(time.time(), 3),
                cells_done=done,
                counts=dict(counts) if counts is not None else found,
            )
        with self._lock:
            atomic_write_json(self.path / META, meta)
            self._meta = meta

    def resume_state(self) -> ResumeState:
        """What resuming this run means: the complete cells kept, the others to run again.

        Raises InputError if the run is still running."""
        if self.state == "running":
            raise InputError(
                f"run {self.run_id} is still running (pid {self._meta.get('pid')})",
                hint="wait for it to finish, or stop it first",
            )
        plan = tuple(self.plan)
        stored = self.stored()
        done = frozenset(c for c in plan if c in stored.complete_cells)
        return ResumeState(
            run_id=self.run_id,
            plan=plan,
            done=done,
            todo=tuple(c for c in plan if c not in done),
            results=tuple(r for r in stored.results if r.cell_id in done),
            partial=tuple(stored.partial),
        )

    def _read_json(self, name: str) -> Any:
        path = self.path / name
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"{path} is missing", hint="the run directory is incomplete") from None
        except ValueError as exc:
            raise InputError(f"{path} is corrupt ({exc})") from None


def _read_meta(path: Path) -> dict[str, Any]:
    hint = "pass a directory made by a wheelmatrix run (see the list of runs), a results.jsonl or a report"
    meta_path = path / META
    if not path.is_dir():
        raise InputError(f"{path} is not a directory", hint=hint)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} is not a wheelmatrix run directory (no {META})", hint=hint) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{meta_path} is unreadable ({exc})", hint=hint) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("run_id"), str):
        raise InputError(f"{meta_path} is not the meta.json of a wheelmatrix run", hint=hint)
    schema = meta.get("schema")
    if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
        raise InputError(
            f"{meta_path} is of schema {schema!r}; this wheelmatrix ({__version__}) reads "
            f"schema 1 to {SCHEMA_VERSION}",
            hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
        )
    if meta.get("state") not in RUN_STATES or not isinstance(meta.get("started"), (int, float)):
        raise InputError(f"{meta_path} has no valid state or start time", hint=hint)
    return meta


def _process_start(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot), to tell a reused pid; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(meta: Mapping[str, Any]) -> bool:
    """Whether the process that wrote a "running" meta.json still runs (on this host)."""
    pid = meta.get("pid")
    if meta.get("host") != socket.gethostname() or type(pid) is not int or pid <= 0:
        return False
    if not pid_alive(pid):
        return False
    started = meta.get("pid_started")
    return started is None or _process_start(pid) in (None, started)


def _effective_state(meta: Mapping[str, Any]) -> str:
    state = str(meta.get("state"))
    return KILLED if state == "running" and not _alive(meta) else state


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
    meta = _read_meta(path)
    state = _effective_state(meta)
    done, counts = meta.get("cells_done"), meta.get("counts")
    if scan and (state in ("running", KILLED) or done is None or not isinstance(counts, dict)):
        stream = path / STREAM
        try:
            done, counts = _quick_scan(stream) if stream.is_file() else (0, _counts(iter(())))
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
