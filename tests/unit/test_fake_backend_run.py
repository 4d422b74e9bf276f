"""A whole run — plan, schedule, cell flow, results, reports, resume — in-process over a fake
backend that implements only the protocols of backends/base.py (Connection, Engine, Sandbox).

If anything above the seam still reached for Docker, or for a method outside the protocol, these
runs would fail: the fakes have nothing else. The sandbox answers the in-cell probe from a
script, as tests/unit/test_cell.py does for the cell flow alone.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import wheelmatrix.backends.factory
from tests.fixtures.sandbox import FakeSandbox, installed_ok, run_rec
from tests.fixtures.wheels import write_wheel
from wheelmatrix.backends.base import Connection, Engine, EngineFacts, EngineOptions, Sandbox
from wheelmatrix.config.catalog import Distro
from wheelmatrix.config.runfile import Reports, RunConfig
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.run.rundir import RunDir
from wheelmatrix.service.runs import run_matrix


class FakeCellSandbox(FakeSandbox):
    """The cell flow's fake sandbox, plus the lifecycle an engine's sandbox has."""

    def __init__(self, engine: FakeEngine, cell: Cell) -> None:
        super().__init__(
            answers={
                "install": installed_ok,
                "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]],
            }
        )
        self.engine_ref = engine
        self.cell = cell
        self.engine = engine.engine
        self.started = False
        self.removed = False

    def start(self) -> None:
        if self.cell.id in self.engine_ref.connection.fail_start:
            raise InfrastructureError(f"could not start {self.cell.id}")
        self.engine_ref.started.append(self.cell.id)
        self.started = True

    def probe(self, command: str, plan: Mapping[str, Any], **kw: Any) -> list[dict[str, Any]]:
        other = self.engine_ref.connection.wait_for.get(self.cell.id)
        if command == "install" and other is not None:  # this cell runs until the other starts
            deadline = time.monotonic() + 20
            while other not in self.engine_ref.started and time.monotonic() < deadline:
                threading.Event().wait(0.01)
            self.engine_ref.waited[self.cell.id] = other in self.engine_ref.started
        # Ctrl-C as the cell begins its work (its sandbox may have been started ahead of it)
        if command == "install" and self.cell.id in self.engine_ref.interrupt_at:
            # what Ctrl-C does: SIGINT to the process, KeyboardInterrupt in the main thread
            os.kill(os.getpid(), signal.SIGINT)
            # the main thread stops the run and closes the engine; this cell is never done (however
            # long a loaded machine takes to get there)
            deadline = time.monotonic() + 120
            while not self.engine_ref.closed and time.monotonic() < deadline:
                threading.Event().wait(0.02)
        return super().probe(command, plan, **kw)

    def remove(self) -> None:
        self.removed = True

    def interactive_argv(
        self, argv: Sequence[str], *, user: str, env: Mapping[str, str], tty: bool
    ) -> list[str]:
        return ["fake-exec", *argv]


class FakeEngine:
    def __init__(self, connection: FakeConnection, options: EngineOptions, run_id: str) -> None:
        self.connection = connection
        self.options = options
        self.run_id = run_id
        self.engine = connection.name
        self.images: dict[str, str] = {}
        self.started: list[str] = []
        self.sandboxes: list[FakeCellSandbox] = []
        self.interrupt_at = connection.interrupt_at
        self.closed = False
        self.waited: dict[str, bool] = {}  # cell -> whether the cell it waited for started

    def prepare_image(self, distro: Distro, arch: str, log: Any) -> str:
        tag = f"fake/{distro.id}:{arch}"
        self.images[tag] = f"sha256:{distro.id}-{arch}"
        return tag

    def register_image(self, tag: str, distro: Distro, arch: str) -> None:
        self.images[tag] = f"sha256:{tag}"

    def use_image(self, ref: str) -> bool:
        return ref in self.images

    def image_id(self, tag: str) -> str:
        return self.images.get(tag, "")

    def has_image(self, tag: str) -> bool:
        return tag in self.images

    def save_image(self, tag: str) -> Iterable[bytes]:
        return [tag.encode()]

    def load_image(self, chunks: Iterable[bytes]) -> None:
        self.images[b"".join(chunks).decode()] = "sha256:copied"

    def answers(self) -> bool:
        return True

    def sandbox(self, cell: Cell, image: str, cancel: threading.Event) -> Sandbox:
        box = FakeCellSandbox(self, cell)
        box.image_id = self.images.get(image, "")
        self.sandboxes.append(box)
        return box

    @contextlib.contextmanager
    def guard(self, cancel: threading.Event) -> Iterator[None]:
        yield

    def remove_later(self, sandbox: Sandbox) -> None:
        sandbox.remove()

    def reap_stale(self) -> int:
        return 0

    def remove_run(self, run_id: str) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    def __init__(
        self,
        interrupt_at: frozenset[str] = frozenset(),
        wait_for: Mapping[str, str] | None = None,
        fail_start: frozenset[str] = frozenset(),
    ) -> None:
        self.url = "fake://engine"
        self.name = "fake 1.0 at fake://engine"
        self.interrupt_at = interrupt_at
        self.wait_for = dict(wait_for or {})  # cell -> a cell whose sandbox it waits for, running
        self.fail_start = fail_start  # cells whose sandbox cannot start
        self.engines: list[FakeEngine] = []

    def answers(self) -> bool:
        return True

    def facts(self) -> EngineFacts:
        return EngineFacts(product="fake", version="1.0")

    def prepared_tags(self) -> set[str]:
        return {"fake/debian-11:x86_64", "fake/debian-12:x86_64"}

    def image_arch(self, ref: str) -> str | None:
        return None

    def registry_answers(self, ref: str) -> bool:
        return False

    def open(self, options: EngineOptions, run_id: str) -> Engine:
        engine = FakeEngine(self, options, run_id)
        self.engines.append(engine)
        return engine


def _conforms(connection: Connection) -> Connection:
    """mypy checks here that the fakes implement the protocols (nothing more is needed)."""
    return connection


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeConnection]:
    """The factory returns one FakeConnection per run (`made["engine"]`); a test that puts a
    connection at `made["next"]` gets that one for the next run."""
    made: dict[str, FakeConnection] = {}

    def connect(url: str | None = None) -> Connection:
        if "engine" not in made:
            made["engine"] = made.pop("next") if "next" in made else FakeConnection()
        return _conforms(made["engine"])

    monkeypatch.setattr(wheelmatrix.backends.factory, "connect", connect)
    return made


def _config(tmp_path: Path) -> RunConfig:
    wheel = write_wheel(
        tmp_path / "dist", "wmfake", "1.0", "py3-none-any", {"wmfake/__init__.py": b""}, purelib=True
    )
    return RunConfig().override(
        candidates=(str(wheel),),
        distros=("debian-11", "debian-12"),
        archs=("x86_64",),
        scenario_names=("import",),
        jobs=1,
        reports=Reports(json=tmp_path / "out.json", markdown=tmp_path / "out.md"),
    )


def _console() -> Console:
    return Console(file=io.StringIO(), width=120)


def test_a_whole_run_over_the_fake_backend(tmp_path: Path, fake: dict[str, FakeConnection]) -> None:
    config = _config(tmp_path)
    rc = run_matrix(config, _console(), runs_dir=tmp_path / "runs")
    assert rc == 0
    (engine,) = fake["engine"].engines
    assert sorted(engine.started) == ["debian-11/x86_64/py3.9/import", "debian-12/x86_64/py3.11/import"]
    assert all(box.removed for box in engine.sandboxes) and engine.closed
    # the cell flow ran in each sandbox: install, then the network cut, then the checks
    for box in engine.sandboxes:
        assert box.order == ["install", "isolate", "run"], box.order
    doc = json.loads((tmp_path / "out.json").read_text())
    checks = {(r["distro"], r["check"]): r for r in doc["results"]}
    assert checks[("debian-12", "import wmfake")]["status"] == "passed"
    assert checks[("debian-12", "import wmfake")]["engine"] == "fake 1.0 at fake://engine"
    assert checks[("debian-11", "import wmfake")]["image"] == "sha256:debian-11-x86_64"
    assert "wmfake" in (tmp_path / "out.md").read_text()
    (run,) = (tmp_path / "runs").iterdir()
    opened = RunDir.open(run)
    assert opened.state == "finished"
    assert (run / "report.json").exists()


def test_an_interrupted_run_resumes_only_the_missing_cells(
    tmp_path: Path, fake: dict[str, FakeConnection]
) -> None:
    config = _config(tmp_path)
    second = "debian-12/x86_64/py3.11/import"
    fake["next"] = FakeConnection(interrupt_at=frozenset({second}))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's Ctrl-C
    try:
        rc = run_matrix(config, _console(), runs_dir=tmp_path / "runs")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert rc == 130, "Ctrl-C ends the run interrupted"
    (run,) = (tmp_path / "runs").iterdir()
    assert RunDir.open(run).state == "interrupted"
    first_engine = fake["engine"].engines[0]
    # the second cell's sandbox may have started ahead of it, while the first cell ran
    assert sorted(first_engine.started) == ["debian-11/x86_64/py3.9/import", second]

    del fake["engine"]  # the resumed run connects again
    rc = run_matrix(config, _console(), runs_dir=tmp_path / "runs", resume="latest")
    assert rc == 0
    (resumed,) = fake["engine"].engines
    assert resumed.started == [second], "only the cell that never finished runs again"
    assert RunDir.open(run).state == "finished"
    doc = json.loads((run / "report.json").read_text())
    assert {r["distro"] for r in doc["results"] if r["check"] == "import wmfake"} == {
        "debian-11",
        "debian-12",
    }
    assert all(r["status"] == "passed" for r in doc["results"] if r["check"] == "import wmfake")


D11, D12 = "debian-11/x86_64/py3.9/import", "debian-12/x86_64/py3.11/import"


def test_the_next_cells_sandbox_starts_while_a_cell_runs(
    tmp_path: Path, fake: dict[str, FakeConnection]
) -> None:
    """One worker, two containers: whichever runs first does not finish its install until the
    other's sandbox has started, which only a sandbox started ahead of its cell can do."""
    fake["next"] = FakeConnection(wait_for={D11: D12, D12: D11})
    assert run_matrix(_config(tmp_path), _console(), runs_dir=tmp_path / "runs") == 0
    (engine,) = fake["engine"].engines
    first = next(iter(engine.waited))
    assert engine.waited[first] is True, engine.waited  # its install saw the next sandbox start
    assert sorted(engine.started) == [D11, D12] and len(engine.sandboxes) == 2  # each started once
    assert all(box.removed for box in engine.sandboxes)
    for box in engine.sandboxes:
        assert box.order == ["install", "isolate", "run"], box.order


def test_a_sandbox_started_ahead_that_failed_ends_its_cell_as_its_own_start_would(
    tmp_path: Path, fake: dict[str, FakeConnection]
) -> None:
    fake["next"] = FakeConnection(fail_start=frozenset({D11, D12}) - {D11})
    assert run_matrix(_config(tmp_path), _console(), runs_dir=tmp_path / "runs") == 3  # an error of ours
    doc = json.loads((tmp_path / "out.json").read_text())
    got = {(r["distro"], r["check"]): (r["status"], r["detail"]) for r in doc["results"]}
    assert got[("debian-12", "run cell")] == ("error", f"could not start {D12}")
    assert got[("debian-11", "import wmfake")][0] == "passed"


def test_a_sandbox_started_for_cells_that_never_ran_is_removed_at_close() -> None:
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog
    from wheelmatrix.config.scenarios import Scenario
    from wheelmatrix.run.engines import EngineSet

    engine = FakeConnection().open(EngineOptions(installer="uv", memory="1g", pids=64), "r1")
    distro = load_catalog(default_catalog_path()).get("debian-12")
    cell = Cell(distro=distro, arch="x86_64", emulated=False, candidates=(),
                scenario=Scenario(name="import", kind="import", description="i"))  # fmt: skip
    pool = EngineSet([engine], lambda *a: [], max_warm=1)
    image = pool.prepare_image(distro, "x86_64", lambda _m: None)
    cancel = threading.Event()
    pool.warm([cell], image, cancel)
    pool.warm([cell], image, cancel)  # once per cells
    (box,) = engine.sandboxes  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not box.started and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    pool.close()
    assert box.started and box.removed


def test_a_sandbox_started_ahead_on_an_engine_that_went_down_is_dropped_and_the_cells_move() -> None:
    """The engine that held the early start stops answering before the cells claim it: they
    run on the other engine (no retrying the dead one in a loop), and the early sandbox goes."""
    from wheelmatrix.backends.base import EngineDown
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog
    from wheelmatrix.config.scenarios import Scenario
    from wheelmatrix.run.engines import EngineSet

    options = EngineOptions(installer="uv", memory="1g", pids=64)
    first, second = FakeConnection().open(options, "r1"), FakeConnection().open(options, "r1")
    distro = load_catalog(default_catalog_path()).get("debian-12")
    cell = Cell(distro=distro, arch="x86_64", emulated=False, candidates=(),
                scenario=Scenario(name="import", kind="import", description="i"))  # fmt: skip
    ran: list[tuple[Any, Any]] = []

    def run(engine: Any, cells: Any, image: str, cancel: Any, started: Any) -> list[Any]:
        ran.append((engine, started))
        return []

    pool = EngineSet([first, second], run, max_warm=1)
    image = pool.prepare_image(distro, "x86_64", lambda _m: None)
    second.register_image(image, distro, "x86_64")  # type: ignore[attr-defined]
    cancel = threading.Event()
    pool.warm([cell], image, cancel)
    (box,) = first.sandboxes  # type: ignore[attr-defined]
    calls = 0

    def gone(tag: str) -> bool:
        nonlocal calls
        calls += 1
        raise EngineDown("first: ConnectionError")

    first.has_image = gone  # type: ignore[method-assign]
    with pool._lock:
        pool._ready.discard((id(first), image))  # as after a restart: the image is checked again
    pool.run_cells([cell], image, cancel)
    assert calls == 1 and ran == [(second, None)], (calls, ran)
    assert box.removed
    pool.warm([cell], image, cancel)  # the cells began: nothing more is started for them
    assert len(first.sandboxes) + len(second.sandboxes) == 1  # type: ignore[attr-defined]
