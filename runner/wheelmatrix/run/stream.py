"""The result stream, `results.jsonl`: a header line, then one line per result and a
`cell-done` marker after the last result of each cell; flushed line by line (`ResultLog`).

Reading it back: a torn or corrupt last line is ignored (a killed writer); a corrupt line
anywhere else is an error naming the file and line. Only cells with a `cell-done` marker count
as results; results of other cells are kept apart as `partial`, so a resumed run re-runs exactly
the incomplete cells and nothing is counted twice. A cell run twice keeps its last complete run.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wheelmatrix import __version__
from wheelmatrix.errors import InputError
from wheelmatrix.fsutil import json_text
from wheelmatrix.inputs.jsonshape import first_problem
from wheelmatrix.model import SCHEMA_VERSION, CheckResult, Status, ValuePool, cell_id

STREAM = "results.jsonl"
INPUT_HINT = "expected a run directory, a results.jsonl stream, or a JSON report written by wheelmatrix"


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
        self._stream.write(json_text(record) + "\n")
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


def looks_like_stream(path: Path) -> bool:
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
def no_cyclic_gc() -> Iterator[None]:
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

    loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a dependency; keep working without it
    loads = _stdlib_loads


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
        self.decode = loads
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
    with no_cyclic_gc():
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
            except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
                text = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc) or type(exc).__name__
                bad = (lineno, text[:200])
                if not good and raw.endswith(b"\n"):  # a whole first line that is not ours
                    raise InputError(
                        f"{path}, line {lineno}: not a wheelmatrix results stream ({bad[1]})",
                        hint=INPUT_HINT,
                    ) from None
    fold.finish()
    return fold


def _stream_schema(path: Path, lineno: int, doc: Mapping[str, Any]) -> int:
    schema = doc.get("schema")
    if doc.get("tool") != "wheelmatrix":
        raise InputError(
            f"{path}, line {lineno}: a stream header not written by wheelmatrix", hint=INPUT_HINT
        )
    if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
        raise InputError(
            f"{path} is a wheelmatrix stream of schema {schema!r}; "
            f"this wheelmatrix ({__version__}) reads schema 1 to {SCHEMA_VERSION}",
            hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
        )
    return schema


def read_stream(path: Path) -> tuple[list[CheckResult], list[CheckResult], set[str], int]:
    pool = ValuePool()
    record = pool.record  # = CheckResult.from_json(doc, pool=pool)

    def convert(doc: Mapping[str, Any]) -> tuple[str, str, CheckResult]:
        evidence = doc.get("evidence")
        if evidence:  # typed in results-line.schema.json: the reporters and explainers read it
            problem = first_problem(evidence, "results-line", "evidence", "evidence")
            if problem is not None:
                raise ValueError(str(problem))
        result = record(doc)
        return result.cell_id, result.check, result

    fold = _fold_stream(path, convert, pool)
    results = [r for attempt in fold.complete.values() for r in attempt.values()]
    partial = [r for attempt in fold.pending.values() for r in attempt.values()]
    return results, partial, set(fold.complete), fold.schema


def quick_scan(path: Path) -> tuple[int, dict[str, int]]:
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
    return len(fold.complete), counts_by_status(
        s for attempt in fold.complete.values() for s in attempt.values()
    )


def counts_by_status(statuses: Iterator[str]) -> dict[str, int]:
    counts = dict.fromkeys((s.value for s in Status), 0)
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts
