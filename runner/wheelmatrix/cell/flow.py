"""One cell's flow: install -> cut the network -> run the scenario's kind -> collect results.

Written against `Sandbox` (wheelmatrix/backends/base.py), so it knows nothing about Docker: the
backend creates the sandbox (a container), hands it to `CellFlow.run()` and always removes it.
The install plan is cell/plan.py, the scenario kinds are the table in cell/kinds.py (one module
each under cell/checks/); crash evidence, the static-TLS re-run and the OOM probe have their own
modules. Unit tests drive it with a fake sandbox that answers probe calls from a script.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.bytecode import (
    COMPILE_PREFIX,
    MAX_SOURCE_FILE,
    MIN_SOURCES,
    BytecodeStore,
    NativeCompile,
    sources_archive,
)
from wheelmatrix.cell.checks.cellfiles import read_local
from wheelmatrix.cell.checks.execute import PROJECT_DIR
from wheelmatrix.cell.crash import crash_evidence
from wheelmatrix.cell.install import VENV
from wheelmatrix.cell.kinds import kind_of
from wheelmatrix.cell.oom import OomWatch
from wheelmatrix.cell.options import CellOptions
from wheelmatrix.cell.plan import Installed, plan_install, read_install
from wheelmatrix.cell.static_tls import static_tls_diagnosis
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import cache_dir, file_lock
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status

__all__ = ["CellFlow", "CellOptions", "installer_for", "site_packages"]


def installer_for(options: CellOptions, cell: Cell) -> str:
    return options.installer if cell.distro.supports_uv else "pip"


def site_packages(python: str) -> list[str]:
    return [f"{VENV}/lib/python{python}/site-packages", f"{VENV}/lib64/python{python}/site-packages"]


class CellFlow:
    """Runs one cell in a sandbox that is already started; returns its results. It is the
    `CellRun` (cell/checks/context.py) that the scenario kinds run against."""

    def __init__(
        self,
        cell: Cell,
        sandbox: Sandbox,
        options: CellOptions,
        cancel: threading.Event | None = None,
        native_compile: NativeCompile | None = None,
    ) -> None:
        """`native_compile`: the engine's compiler for an emulated cell's bytecode (cell/bytecode.py)."""
        self.cell = cell
        self.native_compile = native_compile
        self.sandbox = sandbox
        self.options = options
        self.cancel = cancel or threading.Event()
        self.installer = installer_for(options, cell)
        picks = (*cell.candidates, *cell.companions)
        self.wheels = tuple(p.wheel.filename for p in picks if p.wheel)
        self.wheel_sha256 = {p.wheel.filename: p.wheel.sha256 for p in cell.candidates if p.wheel}
        self.installed = Installed()  # what the install left, once it succeeded
        self.oom_watch = OomWatch(sandbox, options.memory)
        self.site_dirs = site_packages(cell.python)
        self.project_dirs: dict[Path, str] = {}  # scenario sources -> where they were copied
        self.prepared: dict[str, list[CheckResult]] = {}  # scenario -> its kind's prepare results
        self.later: tuple[str, ...] = ()  # kinds of the scenarios still to run in this sandbox

    # -- results -------------------------------------------------------------------------------
    def result(
        self,
        check: str,
        status: Status,
        detail: str,
        duration: float = 0.0,
        evidence: Mapping[str, Any] | None = None,
        diagnosis: str = "",
    ) -> CheckResult:
        got = self.installed
        return CheckResult(
            distro=self.cell.distro.id,
            arch=self.cell.arch,
            python=self.cell.python,
            scenario=self.cell.scenario.name,
            check=check,
            status=status,
            detail=detail,
            duration_s=duration,
            variant=self.cell.variant,
            installer=self.installer,
            wheels=self.wheels,
            evidence={
                **({"unshipped_modules": got.unshipped} if got.unshipped else {}),
                **({"pure_wheels": got.pure_wheels} if got.pure_wheels and status.is_wheel_failure else {}),
                **(evidence or {}),
            },
            diagnosis=diagnosis,
            image=self.sandbox.image_id,
            engine=self.sandbox.engine,
            wheel_sha256=self.wheel_sha256,
            installed=got.dists,
            installed_wheels=got.picked,
            finished_at=time.time(),
        )

    def missing(self, check: str) -> CheckResult:
        reason = "stopped" if self.cancel.is_set() else "the probe gave no result (container died?)"
        return self.result(check, Status.ERROR, reason)

    # -- the flow ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one phase of this container's cells for the run's profile (options.on_phase)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.phase_done(name, time.perf_counter() - start)

    def phase_done(self, name: str, seconds: float) -> None:
        """Record a phase timed elsewhere (a probe's own steps)."""
        if self.options.on_phase is not None:
            where = f"{self.cell.distro.id}/{self.cell.arch}/py{self.cell.python}"
            self.options.on_phase(where, name, seconds)

    def run(self) -> list[CheckResult]:
        """This cell's scenario, after its install."""
        return self.run_group([self.cell])

    def run_group(self, cells: Sequence[Cell]) -> list[CheckResult]:
        """Several scenario cells of one distro/arch/Python/companion set in this one sandbox:
        one install (with every scenario's extra requirements), one network cut, then each
        scenario in turn. Results keep each cell's own scenario (and so its cell id)."""
        try:
            return self._run_group(cells)
        except InfrastructureError as exc:
            return [self.result("run cell", Status.ERROR, exc.message)]

    def _run_group(self, cells: Sequence[Cell]) -> list[CheckResult]:
        installing: list[CheckResult] = []  # refusals and install failures: every scenario's
        self.cell = cells[0]
        extra = list(dict.fromkeys(r for cell in cells for r in kind_of(cell.scenario).requires(cell)))
        with self.phase("install"):
            installed = self.install(installing, extra=extra)

        def each(cell: Cell) -> list[CheckResult]:
            return [dataclasses.replace(r, scenario=cell.scenario.name) for r in installing]

        if installed is None or self.cancel.is_set():
            return [r for cell in cells for r in each(cell)]
        if self.native_compile is not None and self.cell.emulated:
            with self.phase("bytecode, compiled natively"):
                self.bytecode_natively(self.native_compile)
        copies: dict[tuple[Path, tuple[str, ...]], str] = {}  # (sources, left out) -> copy
        dirs: dict[str, dict[Path, str]] = {}  # scenario -> what project_dirs is while it runs
        for cell in cells:
            kind = kind_of(cell.scenario)
            sources = cell.scenario.sources if kind.copies_sources else None
            if sources is None:
                continue
            key = (sources, kind.skip_in_sources)
            if key not in copies:
                copies[key] = PROJECT_DIR if not copies else f"{PROJECT_DIR}-{len(copies)}"
                with self.phase("copy sources"):
                    self.sandbox.put_dir(sources, copies[key], skip=kind.skip_in_sources)
            dirs[cell.scenario.name] = {sources: copies[key]}
        self.prepared = {}
        # what a kind runs before the network cut: a project's own set-up step (cibuildwheel's
        # before-test), which cibuildwheel runs with the network, before the tests
        for cell in cells:
            prepare = kind_of(cell.scenario).prepare
            if prepare is not None and not self.cancel.is_set():
                self.cell, self.project_dirs = cell, dirs.get(cell.scenario.name, {})
                with self.phase(f"prepare {cell.scenario.name}"):
                    prepare(self)
        if not any(cell.scenario.network for cell in cells):  # a scenario that asks keeps it
            with self.phase("network cut"):
                self.sandbox.isolate()  # before any package code runs
        results: list[CheckResult] = []
        for at, cell in enumerate(cells):
            if self.cancel.is_set():
                break
            self.cell, self.project_dirs = cell, dirs.get(cell.scenario.name, {})
            self.later = tuple(c.scenario.kind for c in cells[at + 1 :])
            with self.phase(f"scenario {cell.scenario.name}"):
                results += each(cell) + kind_of(cell.scenario).run(self)
        return results

    def bytecode_natively(self, compile_natively: NativeCompile) -> bool:
        """Compile the venv's sources with the native interpreter of the same Python and put
        the bytecode where the checks look for it; False when the cell compiles lazily instead
        (a small install, no native image, a source tree over the limit). What was compiled
        for this image before (cell/bytecode.py's BytecodeStore) is not compiled again."""
        digests: dict[str, str] = {}
        with self.phase("bytecode: sources read out"):
            # uv's cache files that this machine mounts into cells, the compile sandbox mounts too
            mounted = self.sandbox.local_path
            got = sources_archive(
                self.sandbox.read_tree,
                self.site_dirs,
                MIN_SOURCES,
                lambda root: mounted(root) is not None,
                digests,
                lambda path: read_local(self.sandbox, path, MAX_SOURCE_FILE),
            )
        if got is None:
            return False
        sources, count = got
        key = f"{self.sandbox.image_id.removeprefix('sha256:')[:16]}-py{self.cell.python}"
        store = BytecodeStore(cache_dir() / "bytecode" / key)
        uid = int(self.sandbox.check_user.split(":")[0])
        with sources:
            if count < MIN_SOURCES or not self.sandbox.image_id:
                return False
            try:
                tree = self._bytecode_kept(store, key, sources, digests, uid, compile_natively)
            except OSError:  # the store cannot be read or written (a full disk): compile lazily
                return False
            if tree is None:
                return False
        with self.phase("bytecode: put back"), tree:
            self.sandbox.put_tree("/tmp", tree)
        return True

    def _bytecode_kept(
        self,
        store: BytecodeStore,
        key: str,
        sources: IO[bytes],
        digests: dict[str, str],
        uid: int,
        compile_natively: NativeCompile,
    ) -> IO[bytes] | None:
        """The check user's bytecode tree from the image's store, after compiling what it
        lacks; None if the compile failed."""
        with file_lock(f"bytecode-{key}"):  # cells of one image compile one after another
            missing, stdlib = store.missing(digests), not store.has_stdlib
            if missing or stdlib:
                with self.phase("bytecode: compiled in the native sandbox"):
                    only = missing if len(missing) < len(digests) else None
                    compiled = compile_natively(sources, self.site_dirs, COMPILE_PREFIX, only, stdlib)
                if compiled is None:
                    return None
                with self.phase("bytecode: kept"), compiled:
                    store.add(compiled, {p: digests[p] for p in missing}, stdlib)
            return store.archive(list(digests), f"/tmp/wm-pycache-{uid}", uid)

    # -- phase 1: install with network ---------------------------------------------------------
    def install(
        self,
        results: list[CheckResult],
        on_output: Callable[[str], None] | None = None,
        extra: Sequence[str] | None = None,
    ) -> Installed | None:
        """Create the venv and install every pick (refusals checked first); what was installed,
        or None with the reason appended to results. `extra`: the scenario kind's requirements."""
        cell = self.cell
        extra = list(extra) if extra is not None else kind_of(cell.scenario).requires(cell)
        plan = plan_install(cell, self.options, self.installer, self.site_dirs, extra)
        records = self.sandbox.probe(
            "install",
            plan.probe_plan,
            user=self.sandbox.install_user,
            budget=plan.budget,
            on_output=on_output,
        )
        for rec in records:  # each installer step's own time, under the install phase
            step = rec.get("step")
            if isinstance(step, Mapping) and isinstance(step.get("duration_s"), (int, float)):
                self.phase_done(f"install: {step.get('name', '?')}", float(step["duration_s"]))
        installed = read_install(plan, records, self.result, results)
        if installed is not None:
            self.installed = installed
        return installed

    # -- evidence for the scenario kinds -------------------------------------------------------
    def oom(self, status: Status, rec: Mapping[str, Any], detail: str) -> tuple[str, str]:
        return self.oom_watch.explain(status, rec, detail)

    def static_tls(self, check_id: str, code: str) -> str:
        return static_tls_diagnosis(self.sandbox, check_id, code, timeout_s=self.options.timeout_s)

    def crash_evidence(self, code: str) -> dict[str, Any]:
        return crash_evidence(
            self.sandbox, self.cell, code, timeout_s=self.options.timeout_s, site_dirs=self.site_dirs
        )
