"""Several container engines in one run (or one engine that may restart): cells go to the
least busy engine that answers; an image is prepared once per engine (copied from an engine
that has it, through the engine APIs, rather than built again); an engine that stops answering
mid-cell has that cell moved to another engine, or — when none answers — retried once an
engine answers again, and only then ended `error`. Never a wheel failure, and the run always
gets to write its reports.

This is also where the cell flow meets an engine, for every kind of engine: `run_group` takes a
sandbox from the engine (backends/base.py's protocol) and drives `CellFlow` in it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO

from wheelmatrix.backends.base import Engine, EngineDown, EngineOptions, Log, Sandbox
from wheelmatrix.cell.flow import CellFlow, CellOptions
from wheelmatrix.config.catalog import Distro
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status

WAIT_FOR_ENGINE_S = 180.0  # how long cells wait for a stopped engine to answer again
POLL_S = 2.0


class Started:
    """A sandbox started ahead of its cells (EngineSet.warm), in a thread of its own, while the
    worker that will run them is still busy with another cell."""

    def __init__(self, engine: Engine, sandbox: Sandbox) -> None:
        self.engine = engine
        self.sandbox = sandbox
        self.error: BaseException | None = None
        self.done = threading.Event()
        threading.Thread(target=self._start, name="wm-warm", daemon=True).start()

    def _start(self) -> None:
        try:
            self.sandbox.start()
        except BaseException as exc:  # raised again, where a start of its own would have raised it
            self.error = exc
        finally:
            self.done.set()

    def wait(self, cancel: threading.Event) -> None:
        """Until it has started; its start's own error, raised here."""
        while not self.done.wait(0.2):
            if cancel.is_set():
                raise InfrastructureError("the run was stopped")
        if self.error is not None:
            raise self.error


RunGroup = Callable[[Engine, Sequence[Cell], str, threading.Event, "Started | None"], list[CheckResult]]


def engine_options(options: CellOptions) -> EngineOptions:
    """What an engine needs of the cell options to start sandboxes."""
    return EngineOptions(
        installer=options.installer,
        memory=options.memory,
        pids=options.pids,
        registry_mirror=options.registry_mirror,
        find_links_targets=tuple(options.find_links_targets),
    )


def cell_flow(options: CellOptions) -> RunGroup:
    """Run groups of cells through the cell flow with these options."""

    def run(
        engine: Engine, cells: Sequence[Cell], image: str, cancel: threading.Event, started: Started | None
    ) -> list[CheckResult]:
        return run_group(engine, cells, image, cancel, options, started)

    return run


def run_group(
    engine: Engine,
    cells: Sequence[Cell],
    image: str,
    cancel: threading.Event,
    options: CellOptions,
    started: Started | None = None,
) -> list[CheckResult]:
    """The scenario cells of one distro/arch/Python/companion set, in one sandbox of `engine`:
    one install, then each scenario. A broken sandbox ends every cell `error`; a lost engine
    raises EngineDown (the EngineSet moves the cells to another engine). `started`: the sandbox,
    started ahead (its "create and start" phase is then the time the cell still waited)."""
    sandbox = started.sandbox if started is not None else engine.sandbox(cells[0], image, cancel)
    distro = cells[0].distro

    def native_compile(
        sources: IO[bytes], dirs: Sequence[str], prefix: str, files: Sequence[str] | None, stdlib: bool
    ) -> IO[bytes] | None:
        return engine.native_bytecode(
            distro, sources, dirs, prefix, options.timeout_s * 3, files=files, stdlib=stdlib
        )

    flow = CellFlow(cells[0], sandbox, options, cancel, native_compile)
    try:
        with engine.guard(cancel):
            with flow.phase("create and start"):
                if started is not None:
                    started.wait(cancel)
                else:
                    sandbox.start()
            return flow.run_group(cells)
    except EngineDown:
        raise
    except InfrastructureError as exc:
        error = flow.result("run cell", Status.ERROR, exc.message)
        return [dataclasses.replace(error, scenario=c.scenario.name) for c in cells]
    finally:
        engine.remove_later(sandbox)


class EngineSet:
    """The scheduler's `Backend` over one or more engines."""

    def __init__(
        self,
        engines: Sequence[Engine],
        run: RunGroup,
        *,
        log: Callable[[str], None] = lambda _m: None,
        max_warm: int = 0,
    ) -> None:
        """`run` runs one group of cells on one engine: `cell_flow(options)` for real runs.
        `max_warm`: how many sandboxes may be started ahead of their cells at once (warm)."""
        if not engines:
            raise ValueError("no engines")
        self.engines = list(engines)
        self._run = run
        self.log = log
        self._lock = threading.Lock()
        self._busy = {id(e): 0 for e in self.engines}
        self._down: set[int] = set()
        self._images: dict[tuple[int, str], threading.Lock] = {}
        self._ready: set[tuple[int, str]] = set()
        self._distro: dict[str, tuple[Distro, str]] = {}
        self._unable: dict[tuple[int, str], str] = {}  # (engine, arch) -> why it cannot run it
        self._warm: dict[tuple[str, ...], Started] = {}  # cells -> their sandbox, started ahead
        self._claimed: set[tuple[str, ...]] = set()  # cells that began: none started for them
        self.max_warm = max_warm
        self.engine = ", ".join(e.engine for e in self.engines)

    # -- Backend -------------------------------------------------------------------------------
    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        """Prepare on the first engine that answers; the others get it when they need it."""
        last: Exception | None = None
        for engine in self._alive():
            if (id(engine), arch) in self._unable:
                continue
            try:
                tag = engine.prepare_image(distro, arch, log)
            except EngineDown as exc:
                self._mark_down(engine, exc)
                last = exc
                continue
            except InfrastructureError as exc:  # e.g. no emulation for this arch there
                if len(self.engines) == 1:
                    raise
                self._mark_unable(engine, arch, exc)
                last = exc
                continue
            with self._lock:
                self._ready.add((id(engine), tag))
                self._distro[tag] = (distro, arch)
            return tag
        raise InfrastructureError(f"no engine answers to prepare {distro.id}/{arch}: {last}")

    def warm(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> None:
        """Start the sandbox of cells that will run next, while the caller's own cell runs: its
        create and start (and the engine's first checks in it) are then off the cells' path.
        Only on an engine that already holds the image; at most `max_warm` at once."""
        key = tuple(c.id for c in cells)
        engine = None if cancel.is_set() else self._pick(cells[0].arch)
        if engine is None:
            return
        with self._lock:  # the cells may have begun meanwhile: then they start their own
            if (
                self.max_warm <= len(self._warm)
                or key in self._warm
                or key in self._claimed
                or (id(engine), image) not in self._ready
            ):
                return
            self._warm[key] = Started(engine, engine.sandbox(cells[0], image, cancel))

    def _started(self, cells: Sequence[Cell]) -> Started | None:
        """The sandbox started ahead for these cells, if its engine still answers; from now on
        none is started for them."""
        key = tuple(c.id for c in cells)
        with self._lock:
            self._claimed.add(key)
            started = self._warm.pop(key, None)
            if started is None or id(started.engine) not in self._down:
                return started
        started.engine.remove_later(started.sandbox)
        return None

    def run_cells(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        tried: list[str] = []
        waited = False
        arch = cells[0].arch
        started = self._started(cells)
        while not cancel.is_set():
            engine = started.engine if started is not None else self._pick(arch)
            if engine is None:
                with self._lock:
                    up = [e for e in self.engines if id(e) not in self._down]
                    why = "; ".join(self._unable.get((id(e), arch), "") for e in up)
                if up:  # engines answer, but none can run this arch
                    return [_error(cell, f"no engine can run {arch} cells: {why}") for cell in cells]
                if waited:
                    break
                waited = True
                engine = self._wait_for_any(cancel)
                if engine is None:
                    break
            with self._lock:
                self._busy[id(engine)] += 1
            ahead, started = started, None  # a retry (on another engine) starts its own
            try:
                try:
                    self._ensure_image(engine, image)
                except BaseException:
                    if ahead is not None:
                        engine.remove_later(ahead.sandbox)
                    raise
                return self._run(engine, cells, image, cancel, ahead)
            except EngineDown as exc:
                self._mark_down(engine, exc)
                tried.append(engine.engine)
            except InfrastructureError as exc:  # this engine cannot prepare the image: another may
                self._mark_unable(engine, arch, exc)
                tried.append(engine.engine)
                if self._pick(arch) is None:
                    return [_error(cell, f"no engine can run {arch} cells: {exc.message}") for cell in cells]
            finally:
                with self._lock:
                    self._busy[id(engine)] -= 1
        if started is not None:  # stopped before the cells used it
            started.engine.remove_later(started.sandbox)
        reason = (
            "stopped"
            if cancel.is_set()
            else (
                f"no engine answered (tried {', '.join(tried) or 'none'}; "
                f"waited {WAIT_FOR_ENGINE_S:.0f} s for one)"
            )
        )
        return [_error(cell, reason) for cell in cells]

    def close(self) -> None:
        with self._lock:  # started ahead for cells that did not run (a stopped run)
            unclaimed, self._warm = list(self._warm.values()), {}
        for started in unclaimed:
            with contextlib.suppress(Exception):
                started.engine.remove_later(started.sandbox)
        for engine in self.engines:
            with contextlib.suppress(Exception):  # a dead engine must not stop the reports
                engine.close()

    # -- engines -------------------------------------------------------------------------------
    def _alive(self) -> list[Engine]:
        with self._lock:
            up = [e for e in self.engines if id(e) not in self._down]
        return up or list(self.engines)

    def _pick(self, arch: str) -> Engine | None:
        with self._lock:
            up = [e for e in self.engines if id(e) not in self._down and (id(e), arch) not in self._unable]
            if not up:
                return None
            return min(up, key=lambda e: (self._busy[id(e)], self.engines.index(e)))

    def _mark_unable(self, engine: Engine, arch: str, exc: BaseException) -> None:
        with self._lock:
            self._unable[(id(engine), arch)] = str(exc)
        self.log(f"engine {engine.engine} cannot run {arch} cells ({exc}); they go to the other engines")

    def _mark_down(self, engine: Engine, exc: BaseException) -> None:
        with self._lock:
            if id(engine) in self._down:
                return
            self._down.add(id(engine))
            self._ready = {k for k in self._ready if k[0] != id(engine)}
            # started ahead there: its containers will not outlive a restart in a usable state
            lost = [k for k, started in self._warm.items() if started.engine is engine]
            dropped = [self._warm.pop(k) for k in lost]
        for started in dropped:
            with contextlib.suppress(Exception):
                engine.remove_later(started.sandbox)
        self.log(f"engine {engine.engine} stopped answering ({exc}); its cells move on")

    def _wait_for_any(self, cancel: threading.Event) -> Engine | None:
        """Every engine is down: wait for one to answer again (a restarted dockerd)."""
        deadline = time.monotonic() + WAIT_FOR_ENGINE_S
        while time.monotonic() < deadline and not cancel.is_set():
            for engine in self.engines:
                if engine.answers():
                    with self._lock:
                        self._down.discard(id(engine))
                    self.log(f"engine {engine.engine} answers again")
                    return engine
            cancel.wait(POLL_S)
        return None

    def _ensure_image(self, engine: Engine, tag: str) -> None:
        key = (id(engine), tag)
        with self._lock:
            if key in self._ready:
                return
            lock = self._images.setdefault(key, threading.Lock())
        with lock:
            if key in self._ready:
                return
            if not engine.has_image(tag):
                source = next(
                    (e for e in self._alive() if e is not engine and (id(e), tag) in self._ready), None
                )
                distro, arch = self._distro[tag]
                if source is not None:
                    self.log(f"copying {tag} from {source.engine} to {engine.engine}")
                    engine.load_image(source.save_image(tag))
                    engine.register_image(tag, distro, arch)
                else:
                    engine.prepare_image(distro, arch, self.log)
            else:
                engine.register_image(tag, *self._distro[tag])
            with self._lock:
                self._ready.add(key)


def _error(cell: Cell, reason: str) -> CheckResult:
    return CheckResult(
        distro=cell.distro.id,
        arch=cell.arch,
        python=cell.python,
        scenario=cell.scenario.name,
        check="run cell",
        variant=cell.variant,
        status=Status.ERROR,
        detail=reason,
    )
