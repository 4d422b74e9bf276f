"""The scheduler (wheelmatrix/scheduler.py) driving a fake, in-memory backend. No engine involved."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from packaging.utils import canonicalize_name

from wheelmatrix.config.catalog import Catalog, Distro, default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.inputs.wheels import Project, RequirementSpec
from wheelmatrix.matrix.cells import Cell, build_matrix, select_targets
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.run.scheduler import Scheduler

WAIT_S = 5.0  # generous upper bound for anything that should happen "at once"

CellHook = Callable[[Cell, threading.Event], None]


@dataclass(frozen=True)
class Call:
    kind: str  # "prepare" | "run-start" | "run-end"
    key: str  # "distro/arch" for images, the cell label for cells
    at: float
    image: str = ""


@dataclass
class FakeBackend:
    """Records every call; `prepare_errors` and `cell_hooks` script the misbehaviour."""

    prepare_errors: dict[str, Exception] = field(default_factory=dict)  # "distro/arch" -> raised
    cell_hooks: dict[str, CellHook] = field(default_factory=dict)  # scenario name -> hook
    calls: list[Call] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, kind: str, key: str, image: str = "") -> None:
        with self._lock:
            self.calls.append(Call(kind, key, time.monotonic(), image))

    def prepare_image(self, distro: Distro, arch: str, log: Callable[[str], None]) -> str:
        key = f"{distro.id}/{arch}"
        self._record("prepare", key)
        log("pretending to build")
        if key in self.prepare_errors:
            raise self.prepare_errors[key]
        return f"wm-cell:{distro.id}-{arch}"

    def warm(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> None:
        self._record("warm", "+".join(c.label for c in cells), image)

    def run_cells(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        self._record("container", "+".join(c.label for c in cells), image)
        return [r for cell in cells for r in self.run_cell(cell, image, cancel)]

    def run_cell(self, cell: Cell, image: str, cancel: threading.Event) -> list[CheckResult]:
        self._record("run-start", cell.label, image)
        hook = self.cell_hooks.get(cell.scenario.name)
        if hook is not None:
            hook(cell, cancel)
        self._record("run-end", cell.label, image)
        return [
            CheckResult(
                distro=cell.distro.id,
                arch=cell.arch,
                python=cell.python,
                scenario=cell.scenario.name,
                check="import wmpure",
                status=Status.PASSED,
            )
        ]

    def close(self) -> None:
        self.closed.set()

    def keys(self, kind: str) -> list[str]:
        with self._lock:
            return [c.key for c in self.calls if c.kind == kind]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def make_cells(
    catalog: Catalog,
    distros: Sequence[str],
    archs: Sequence[str] = ("x86_64", "aarch64"),
    scenarios: int = 1,
    containers: str = "each",
) -> list[Cell]:
    """Real cells: host x86_64, aarch64 emulated; `scenarios` scenarios s0, s1, ... per image.
    containers="each": every cell its own container (a variant each, as companion sets are);
    "shared": the scenarios of a target share one container, as in a real matrix."""
    targets = select_targets(
        [catalog.get(d) for d in distros], list(archs), [], "x86_64", ["x86_64", "aarch64"]
    )
    spec = RequirementSpec(text="wmpure", project=canonicalize_name("wmpure"))
    cells = build_matrix(
        targets,
        [Scenario(name=f"s{i}", kind="import", description="test") for i in range(scenarios)],
        [Project(name=spec.project, requirement=spec)],
    )
    if containers == "shared":
        return cells
    return [dataclasses.replace(c, variant=f"v-{c.scenario.name}") for c in cells]


@dataclass
class Run:
    results: list[CheckResult]
    events: list[tuple[str, str]]
    thread: threading.Thread
    scheduler: Scheduler

    def wait(self, timeout: float = WAIT_S) -> float:
        start = time.monotonic()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"Scheduler.run did not return within {timeout} s"
        return time.monotonic() - start


def start(
    backend: FakeBackend,
    cells: Sequence[Cell],
    jobs: int,
    on_result: Callable[[CheckResult], None] | None = None,
) -> Run:
    """Scheduler.run in a thread, so that a hang fails the test instead of freezing it."""
    results: list[CheckResult] = []
    events: list[tuple[str, str]] = []

    def sink(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    scheduler = Scheduler(backend, jobs=jobs, on_result=sink, on_event=lambda k, m: events.append((k, m)))
    thread = threading.Thread(target=scheduler.run, args=(list(cells),), daemon=True)
    thread.start()
    return Run(results, events, thread, scheduler)


def run(backend: FakeBackend, cells: Sequence[Cell], jobs: int) -> Run:
    r = start(backend, cells, jobs)
    r.wait()
    return r


# --------------------------------------------------------------------------- tests


def test_jobs_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Scheduler(FakeBackend(), jobs=0, on_result=lambda r: None)


def test_no_cells_returns_at_once() -> None:
    backend = FakeBackend()
    assert run(backend, [], jobs=2).results == []
    assert backend.calls == []


def test_every_image_is_prepared_once_and_every_cell_runs_once(catalog: Catalog) -> None:
    cells = make_cells(catalog, ["debian-11", "debian-12", "debian-13"], scenarios=5)
    backend = FakeBackend()

    r = run(backend, cells, jobs=4)

    prepared = backend.keys("prepare")
    assert sorted(prepared) == sorted({f"{c.distro.id}/{c.arch}" for c in cells})
    assert len(prepared) == 6
    assert sorted(backend.keys("run-start")) == sorted(c.label for c in cells)
    assert len(r.results) == len(cells) == 30
    for call in (c for c in backend.calls if c.kind == "run-start"):
        distro, arch = call.key.split("/")[:2]
        assert call.image == f"wm-cell:{distro}-{arch}"  # the image prepared for that cell
        ready = next(c.at for c in backend.calls if c.kind == "prepare" and c.key == f"{distro}/{arch}")
        assert call.at >= ready
    assert [k for k, _ in r.events].count("cell-done") == 30
    assert [k for k, _ in r.events].count("image-done") == 6


def test_emulated_cells_run_before_native_ones(catalog: Catalog) -> None:
    cells = make_cells(catalog, ["debian-11", "debian-12"], scenarios=3)
    backend = FakeBackend()

    run(backend, sorted(cells, key=lambda c: c.emulated), jobs=1)  # native cells listed first

    archs = [label.split("/")[1] for label in backend.keys("run-start")]
    assert archs == ["aarch64"] * 6 + ["x86_64"] * 6
    prepared = [key.split("/")[1] for key in backend.keys("prepare")]
    assert prepared == ["aarch64", "aarch64", "x86_64", "x86_64"]


def test_each_container_asks_for_the_next_one_to_be_started_ahead(catalog: Catalog) -> None:
    """With one worker, the container a cell asks to have started ahead is the one that runs
    next; the last one asks for none (nothing is queued)."""
    cells = make_cells(catalog, ["debian-11", "debian-12"], scenarios=2)
    backend = FakeBackend()

    run(backend, cells, jobs=1)

    calls = [(c.kind, c.key) for c in backend.calls if c.kind in ("container", "warm")]
    ran = [key for kind, key in calls if kind == "container"]
    assert len(ran) == 8
    for at, (kind, key) in enumerate(calls):
        if kind == "warm":  # asked for by the container about to run; it runs after that one
            following = [k for kd, k in calls[at + 1 :] if kd == "container"]
            assert following[1:2] == [key], calls
    # the containers queued behind another were all asked for (those queued when their image
    # became ready while nothing ran are not)
    assert len([k for k, _ in calls if k == "warm"]) >= 4, calls


def test_a_hanging_cell_does_not_block_the_others(catalog: Catalog) -> None:
    release = threading.Event()
    others_done = threading.Event()
    cells = make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=5)

    def hang(cell: Cell, cancel: threading.Event) -> None:
        release.wait(30)

    backend = FakeBackend(cell_hooks={"s0": hang})

    def count(result: CheckResult) -> None:
        if sum(1 for c in backend.calls if c.kind == "run-end") == 4:
            others_done.set()

    r = start(backend, cells, jobs=2, on_result=count)
    try:
        assert others_done.wait(WAIT_S), "the other cells waited for the hanging one"
        assert r.thread.is_alive(), "run() returned while a cell was still running"
        assert "debian-12/x86_64/py3.11/s0+v-s0" not in backend.keys("run-end")
    finally:
        release.set()
    r.wait()
    assert len(r.results) == 5


@pytest.mark.parametrize(
    "error, reason",
    [
        (
            InfrastructureError("pulling debian:11 failed: manifest unknown", hint="check the registry"),
            "pulling debian:11 failed: manifest unknown",
        ),
        (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    ],
    ids=["wheelmatrix-error", "other-exception"],
)
def test_an_image_that_cannot_be_prepared_fails_its_cells_only(
    catalog: Catalog, error: Exception, reason: str
) -> None:
    cells = make_cells(catalog, ["debian-11", "debian-12"], archs=["x86_64"], scenarios=3)
    backend = FakeBackend(prepare_errors={"debian-11/x86_64": error})

    r = run(backend, cells, jobs=2)

    broken = [res for res in r.results if res.distro == "debian-11"]
    assert sorted(res.scenario for res in broken) == ["s0", "s1", "s2"]  # one result per cell
    for res in broken:
        assert (res.status, res.check, res.detail) == (Status.ERROR, "prepare image", reason)
        assert (res.arch, res.python) == ("x86_64", "3.9")
    assert not [k for k in backend.keys("run-start") if k.startswith("debian-11/")]
    healthy = [res for res in r.results if res.distro == "debian-12"]
    assert [res.status for res in healthy] == [Status.PASSED] * 3
    assert ("image-failed", f"debian-11/x86_64: {reason}") in r.events


def test_a_cell_that_raises_becomes_an_error_result(catalog: Catalog) -> None:
    def explode(cell: Cell, cancel: threading.Event) -> None:
        raise RuntimeError("backend bug in cell")

    cells = make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=4)
    backend = FakeBackend(cell_hooks={"s1": explode})

    r = run(backend, cells, jobs=1)

    by_scenario = {res.scenario: res for res in r.results}
    assert sorted(by_scenario) == ["s0", "s1", "s2", "s3"]
    bad = by_scenario["s1"]
    assert (bad.status, bad.check) == (Status.ERROR, "run cell")
    assert bad.detail == "RuntimeError: backend bug in cell"
    traceback_text = bad.evidence["traceback"]
    assert "Traceback (most recent call last)" in traceback_text
    assert "in explode" in traceback_text and "RuntimeError: backend bug in cell" in traceback_text
    assert all(by_scenario[s].status is Status.PASSED for s in ("s0", "s2", "s3"))


def test_cancel_from_another_thread_stops_the_run(catalog: Catalog) -> None:
    running = threading.Event()

    def wait_for_cancel(cell: Cell, cancel: threading.Event) -> None:
        running.set()
        cancel.wait(30)  # the real backend stops its cell when `cancel` is set

    cells = make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=6)
    backend = FakeBackend(cell_hooks={"s0": wait_for_cancel})
    # s0 is queued first; with one worker it runs first and holds the worker.
    r = start(backend, cells, jobs=1)
    assert running.wait(WAIT_S)

    r.scheduler.cancel()
    elapsed = r.wait()

    assert elapsed < WAIT_S
    assert backend.keys("run-start") == ["debian-12/x86_64/py3.11/s0+v-s0"]
    assert r.scheduler.cancelled.is_set()


def test_cancel_returns_even_while_a_cell_is_stuck_in_the_backend(catalog: Catalog) -> None:
    running = threading.Event()
    backend = FakeBackend()

    def stuck_until_closed(cell: Cell, cancel: threading.Event) -> None:
        running.set()
        backend.closed.wait(30)  # like a blocking exec that only ends when its container is removed

    backend.cell_hooks["s0"] = stuck_until_closed
    r = start(backend, make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=3), jobs=1)
    try:
        assert running.wait(WAIT_S)
        r.scheduler.cancel()
        r.thread.join(1.0)
        assert not r.thread.is_alive(), "run() did not return after cancel()"
    finally:
        backend.close()
        r.wait()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_failing_result_sink_does_not_hang_the_run(catalog: Catalog) -> None:
    def disk_full(result: CheckResult) -> None:
        raise OSError(28, "No space left on device")

    cells = make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=3)
    backend = FakeBackend()
    r = start(backend, cells, jobs=1, on_result=disk_full)
    try:
        r.thread.join(1.0)
        assert not r.thread.is_alive(), "run() hangs after the result sink raised"
    finally:
        r.scheduler._done.set()  # test cleanup only: let the stuck run() return
        r.wait()


def test_the_scenarios_of_a_target_share_one_container(catalog: Catalog) -> None:
    cells = make_cells(catalog, ["debian-11", "debian-12"], scenarios=3, containers="shared")
    backend = FakeBackend()
    r = run(backend, cells, jobs=2)
    containers = backend.keys("container")
    assert len(containers) == 4, containers  # 2 distros x 2 archs, not 12
    assert "debian-12/aarch64/py3.11/s0+debian-12/aarch64/py3.11/s1+debian-12/aarch64/py3.11/s2" in containers
    assert len(r.results) == 12


def test_a_container_that_raises_errors_each_of_its_cells(catalog: Catalog) -> None:
    def explode(cell: Cell, cancel: threading.Event) -> None:
        raise RuntimeError("backend bug")

    cells = make_cells(catalog, ["debian-12"], archs=["x86_64"], scenarios=3, containers="shared")
    r = run(FakeBackend(cell_hooks={"s1": explode}), cells, jobs=1)
    assert sorted((res.scenario, res.status.value, res.check) for res in r.results) == [
        ("s0", "error", "run cell"), ("s1", "error", "run cell"), ("s2", "error", "run cell"),
    ]  # fmt: skip
