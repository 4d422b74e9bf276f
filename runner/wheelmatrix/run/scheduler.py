"""Which cell runs when. Knows nothing about docker: it drives a `Backend`.

- a pool of `jobs` workers takes tasks from one priority queue;
- each image is prepared once; its cells are queued when it is ready (or get an `error`
  result naming why it could not be prepared);
- emulated work goes first, so slow emulated cells do not end the run alone;
- a crashing or hanging cell only ever occupies its own worker; a bug in a cell becomes an
  `error` result, not a dead worker;
- `cancel()` (Ctrl-C) stops handing out work and the caller closes the backend.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from wheelmatrix.backends.base import Backend
from wheelmatrix.errors import WheelmatrixError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status

ResultSink = Callable[[CheckResult], None]
EventSink = Callable[[str, str], None]  # (event kind, message)

# Lower runs first.
_PRIO_IMAGE_EMULATED, _PRIO_CELL_EMULATED, _PRIO_IMAGE, _PRIO_CELL = 0, 1, 2, 3


@dataclass(frozen=True)
class _Task:
    label: str
    fn: Callable[[], None]
    cells: tuple[Cell, ...] = ()  # a container's cells, and their image
    image: str = ""


class Scheduler:
    def __init__(
        self,
        backend: Backend,
        *,
        jobs: int,
        on_result: ResultSink,
        on_event: EventSink | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be >= 1")
        self.backend = backend
        self.jobs = jobs
        self._on_result = on_result
        self._on_event = on_event or (lambda kind, msg: None)
        self._queue: queue.PriorityQueue[tuple[int, int, _Task | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._pending = 0
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.cancelled = threading.Event()

    # -- public --------------------------------------------------------------------------------
    def run(self, cells: Sequence[Cell]) -> None:
        """Run every cell; returns when all finished or the run was cancelled."""
        if not cells:
            return
        by_image: dict[tuple[str, str], list[Cell]] = {}
        for cell in cells:
            by_image.setdefault(cell.image_key, []).append(cell)
        for group in by_image.values():
            first = group[0]
            prio = _PRIO_IMAGE_EMULATED if first.emulated else _PRIO_IMAGE
            self._submit(prio, _Task(f"image {first.distro.id}/{first.arch}", partial(self._prepare, group)))
        workers = [
            threading.Thread(target=self._work, name=f"wm-worker-{i}", daemon=True) for i in range(self.jobs)
        ]
        for w in workers:
            w.start()
        try:
            while not self._done.wait(0.2):
                if self.cancelled.is_set():  # cancel() from another thread: do not wait for cells
                    break
        except BaseException:  # Ctrl-C: stop handing out work; do not wait for running cells
            self.cancelled.set()
            raise
        finally:
            for _ in workers:
                self._queue.put((99, next(self._seq), None))
            if not self.cancelled.is_set():
                for w in workers:
                    w.join()

    def cancel(self) -> None:
        self.cancelled.set()

    # -- internals -----------------------------------------------------------------------------
    def _submit(self, prio: int, task: _Task) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put((prio, next(self._seq), task))

    def _finish_one(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending == 0:
                self._done.set()

    def _work(self) -> None:
        while True:
            _prio, _seq, task = self._queue.get()
            if task is None:
                return
            try:
                if not self.cancelled.is_set():
                    task.fn()
            except Exception:  # a broken sink or event hook must not kill the worker
                self._on_event_safe("internal-error", f"{task.label}: {traceback.format_exc()}")
            finally:
                self._finish_one()
                if self.cancelled.is_set():
                    self._drain()

    def _on_event_safe(self, kind: str, message: str) -> None:
        with contextlib.suppress(Exception):
            self._on_event(kind, message)

    def _drain(self) -> None:
        """After cancel: drop every queued task so `run` can return."""
        while True:
            try:
                _p, _s, task = self._queue.get_nowait()
            except queue.Empty:
                return
            if task is None:
                self._queue.put((99, next(self._seq), None))
                return
            self._finish_one()

    def _prepare(self, group: list[Cell]) -> None:
        first = group[0]
        name = f"{first.distro.id}/{first.arch}"
        self._on_event("image-start", name)
        try:
            image = self.backend.prepare_image(
                first.distro, first.arch, lambda msg: self._on_event("image-log", f"{name}: {msg}")
            )
        except Exception as exc:  # every cell of this image gets the reason
            reason = exc.message if isinstance(exc, WheelmatrixError) else f"{type(exc).__name__}: {exc}"
            self._on_event("image-failed", f"{name}: {reason}")
            for cell in group:
                self._emit(_error(cell, "prepare image", reason))
                self._on_event("cell-done", cell.label)
            return
        self._on_event("image-done", name)
        prio = _PRIO_CELL_EMULATED if first.emulated else _PRIO_CELL
        containers: dict[tuple[str, str, str, str, bool, bool], list[Cell]] = {}
        for cell in group:
            containers.setdefault(cell.container_key, []).append(cell)
        for cells in containers.values():
            task = _Task(cells[0].label, partial(self._run_cells, cells, image), tuple(cells), image)
            self._submit(prio, task)

    def _run_cells(self, cells: list[Cell], image: str) -> None:
        """One container: every scenario cell of one distro/arch/Python/companion set."""
        for cell in cells:
            self._on_event("cell-start", cell.label)
        upcoming = self._next_cells()
        if upcoming is not None:  # its container starts while this one runs
            with contextlib.suppress(Exception):  # only ever a head start: the cells start it anyway
                self.backend.warm(upcoming.cells, upcoming.image, self.cancelled)
        try:
            results = self.backend.run_cells(cells, image, self.cancelled)
        except Exception as exc:  # a bug: keep the traceback as evidence, keep going
            detail, trace = f"{type(exc).__name__}: {exc}", {"traceback": traceback.format_exc()}
            results = [_error(cell, "run cell", detail, trace) for cell in cells]
        for result in results:
            self._emit(result)
        for cell in cells:
            self._on_event("cell-done", cell.label)

    def _next_cells(self) -> _Task | None:
        """The container task a worker will take next, if one is queued."""
        with self._queue.mutex:
            queued = [item for item in self._queue.queue if item[2] is not None and item[2].cells]
        return min(queued, key=lambda item: item[:2])[2] if queued else None

    def _emit(self, result: CheckResult) -> None:
        with self._lock:
            self._on_result(result)


def _error(cell: Cell, check: str, detail: str, evidence: dict[str, str] | None = None) -> CheckResult:
    return CheckResult(
        distro=cell.distro.id,
        arch=cell.arch,
        python=cell.python,
        scenario=cell.scenario.name,
        check=check,
        variant=cell.variant,
        status=Status.ERROR,
        detail=detail,
        evidence=evidence or {},
    )
