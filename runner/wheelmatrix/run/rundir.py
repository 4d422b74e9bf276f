"""Run directories: one per run (by default `<cache>/runs/<run_id>/`), holding

  meta.json      what the run is and how far it got: run id, start/finish time, state, pid and
                 host of the writer, config hash and source, cells planned (and, once finished
                 or interrupted, cells done and counts by status); rewritten atomically
  config.json    the resolved configuration (a JSON object given by the caller)
  plan.json      the planned cell ids, in order
  results.jsonl  the stream (run/stream.py)
  run.log        a plain-text log
  report.json …  the final reports, written by the caller (`RunDir.report_path`)

and `load_results`, which reads results back from a run directory, a stream or a JSON report
(resume, compare, merge, render).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wheelmatrix import __version__
from wheelmatrix.errors import InputError, WheelmatrixError
from wheelmatrix.fsutil import atomic_write_json, pid_alive
from wheelmatrix.model import SCHEMA_VERSION, CheckResult
from wheelmatrix.run.jsonreport import read_report
from wheelmatrix.run.stream import (
    INPUT_HINT,
    STREAM,
    LoadedResults,
    ResultLog,
    counts_by_status,
    loads,
    looks_like_stream,
    read_stream,
)

META = "meta.json"
CONFIG = "config.json"
PLAN = "plan.json"
LOG = "run.log"
PROFILE = "profile.jsonl"  # one line per phase of each container's cells: where the time went

# States written to meta.json. A run whose meta says "running" but whose writer is gone is
# reported as "killed" (never written: it is what a reader concludes).
RUN_STATES = ("running", "finished", "interrupted")
KILLED = "killed"

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

StoredResults = LoadedResults  # what `RunDir.stored()` returns


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of a resolved configuration (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_results(path: Path) -> LoadedResults:
    """Read results from a run directory, a results.jsonl stream or a JSON report.

    Raises InputError for anything else, for a report or stream of an unknown schema, and for
    a stream with a corrupt line before its last one (naming the file and line)."""
    if path.is_dir():
        return RunDir.open(path).stored()
    if not path.is_file():
        raise InputError(f"{path} does not exist", hint=INPUT_HINT)
    if looks_like_stream(path):
        results, partial, complete, schema = read_stream(path)
        return LoadedResults(
            results=results,
            partial=partial,
            run=_sibling_meta(path),
            source=path,
            complete_cells=complete,
            kind="stream",
            schema=schema,
        )
    return read_report(path)


def _sibling_meta(stream: Path) -> dict[str, Any]:
    meta = stream.with_name(META)
    if stream.name != STREAM or not meta.is_file():
        return {}
    try:
        doc = loads(meta.read_bytes())
    except (OSError, ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


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
        return cls(path, read_meta(path))

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
            return effective_state(self._meta)

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

    def phase(self, cell: str, phase: str, seconds: float) -> None:
        """Append one phase of a container's cells to profile.jsonl."""
        line = json.dumps({"cell": cell, "phase": phase, "s": round(seconds, 4), "at": round(time.time(), 3)})
        with self._lock, (self.path / PROFILE).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def result_log(self) -> ResultLog:
        """A ResultLog appending to this run's stream (a resumed run continues the same file)."""
        return ResultLog(self.stream_path)

    def stored(self) -> StoredResults:
        """Everything in the stream so far (see `load_results`)."""
        if self.stream_path.is_file():
            results, partial, complete, schema = read_stream(self.stream_path)
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
                found = counts_by_status(r.status.value for r in stored.results)
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
            return loads(path.read_bytes())
        except FileNotFoundError:
            raise InputError(f"{path} is missing", hint="the run directory is incomplete") from None
        except (OSError, ValueError, RecursionError) as exc:
            raise InputError(f"{path} is corrupt ({exc or type(exc).__name__})") from None


_LATEST = 1 << 40  # a start time (unix seconds) beyond any real one: year 36812
_PID_LIMIT = 1 << 22  # the kernel's PID_MAX_LIMIT


def read_meta(path: Path) -> dict[str, Any]:
    hint = "pass a directory made by a wheelmatrix run (see the list of runs), a results.jsonl or a report"
    meta_path = path / META
    if not path.is_dir():
        raise InputError(f"{path} is not a directory", hint=hint)
    try:
        meta = loads(meta_path.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{path} is not a wheelmatrix run directory (no {META})", hint=hint) from None
    except (OSError, ValueError, RecursionError) as exc:
        raise InputError(f"{meta_path} is unreadable ({exc or type(exc).__name__})", hint=hint) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("run_id"), str):
        raise InputError(f"{meta_path} is not the meta.json of a wheelmatrix run", hint=hint)
    schema = meta.get("schema")
    if type(schema) is not int or not 1 <= schema <= SCHEMA_VERSION:
        raise InputError(
            f"{meta_path} is of schema {schema!r}; this wheelmatrix ({__version__}) reads "
            f"schema 1 to {SCHEMA_VERSION}",
            hint="read it with the wheelmatrix that wrote it, or upgrade wheelmatrix",
        )
    started = meta.get("started")
    if (
        meta.get("state") not in RUN_STATES
        or isinstance(started, bool)
        or not isinstance(started, (int, float))
        or not 0 <= started < _LATEST  # also NaN: every comparison with it is false
    ):
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
    if meta.get("host") != socket.gethostname() or type(pid) is not int or not 0 < pid < _PID_LIMIT:
        return False
    if not pid_alive(pid):
        return False
    started = meta.get("pid_started")
    return started is None or _process_start(pid) in (None, started)


def effective_state(meta: Mapping[str, Any]) -> str:
    state = str(meta.get("state"))
    return KILLED if state == "running" and not _alive(meta) else state
