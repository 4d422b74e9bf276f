"""Several engines (fakes): cells go to the least busy engine, move when one stops answering,
wait for a restarted engine, and end `error` (never a wheel failure) when none comes back."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from wheelmatrix.backends.base import EngineDown
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.run import engines as engines_mod
from wheelmatrix.run.engines import EngineSet


class FakeEngine:
    def __init__(self, name: str, *, down_after: int | None = None, comes_back: bool = True) -> None:
        self.engine = name
        self.ran: list[str] = []
        self.images: set[str] = set()
        self.down_after = down_after
        self.comes_back = comes_back
        self.up = True
        self.copied: list[str] = []

    def prepare_image(self, distro: Any, arch: str, log: Any) -> str:
        if not self.up:
            raise EngineDown(f"{self.engine}: ConnectionError")
        tag = f"img:{distro.id}-{arch}"
        self.images.add(tag)
        return tag

    def register_image(self, tag: str, distro: Any, arch: str) -> None:
        self.images.add(tag)

    def has_image(self, tag: str) -> bool:
        return tag in self.images

    def save_image(self, tag: str) -> Any:
        return iter([tag.encode()])

    def load_image(self, chunks: Any) -> None:
        self.copied.append(b"".join(chunks).decode())

    def answers(self) -> bool:
        if not self.up and self.comes_back:
            self.up = True
        return self.up

    def run_cells(self, cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        if self.down_after is not None and len(self.ran) >= self.down_after:
            self.up = False
            self.down_after = None
        if not self.up:
            raise EngineDown(f"{self.engine}: ConnectionError")
        self.ran.append(cells[0].id)
        return [
            CheckResult(distro=c.distro.id, arch=c.arch, python=c.python, scenario=c.scenario.name,
                        check="import x", status=Status.PASSED, engine=self.engine)
            for c in cells
        ]  # fmt: skip

    def close(self) -> None:
        if not self.up:
            raise ConnectionError("engine gone")


def direct(
    engine: Any, cells: Sequence[Cell], image: str, cancel: threading.Event, started: Any = None
) -> list[CheckResult]:
    """The fakes run cells themselves (the real runs go through the cell flow: run_group)."""
    result: list[CheckResult] = engine.run_cells(cells, image, cancel)
    return result


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def cell(catalog: Catalog, distro: str = "debian-12") -> Cell:
    return Cell(distro=catalog.get(distro), arch="x86_64", emulated=False, candidates=(),
                scenario=Scenario(name="import", kind="import", description="i"))  # fmt: skip


def test_cells_spread_and_images_are_copied_not_rebuilt(catalog: Catalog) -> None:
    a, b = FakeEngine("a"), FakeEngine("b")
    pool = EngineSet([a, b], direct)  # type: ignore[list-item]
    c = cell(catalog)
    tag = pool.prepare_image(c.distro, "x86_64", lambda m: None)
    assert a.images == {tag} and not b.images
    busy = threading.Event()
    original = a.run_cells

    def slow(cells: Sequence[Cell], image: str, cancel: threading.Event) -> list[CheckResult]:
        busy.set()
        release.wait(5)
        return original(cells, image, cancel)

    release = threading.Event()
    a.run_cells = slow  # type: ignore[method-assign]
    t = threading.Thread(target=pool.run_cells, args=([c], tag, threading.Event()))
    t.start()
    assert busy.wait(5)
    pool.run_cells([cell(catalog, "debian-11")], tag, threading.Event())  # a is busy: goes to b
    release.set()
    t.join()
    assert b.ran == ["debian-11/x86_64/py3.9/import"] and b.copied == [tag]


def test_a_dead_engines_cell_moves_to_another(catalog: Catalog) -> None:
    a, b = FakeEngine("a", down_after=0, comes_back=False), FakeEngine("b")
    pool = EngineSet([a, b], direct)  # type: ignore[list-item]
    c = cell(catalog)
    tag = pool.prepare_image(c.distro, "x86_64", lambda m: None)
    results = pool.run_cells([c], tag, threading.Event())
    assert [r.engine for r in results] == ["b"] and results[0].status is Status.PASSED
    pool.close()  # the dead engine's close error does not escape


def test_the_only_engine_restarts_and_the_cell_is_retried(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines_mod, "POLL_S", 0.01)
    a = FakeEngine("a", down_after=0, comes_back=True)
    pool = EngineSet([a], direct)  # type: ignore[list-item]
    c = cell(catalog)
    tag = pool.prepare_image(c.distro, "x86_64", lambda m: None)
    results = pool.run_cells([c], tag, threading.Event())
    assert [r.status for r in results] == [Status.PASSED] and a.ran == [c.id]


def test_no_engine_comes_back_ends_error_not_failure(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines_mod, "POLL_S", 0.01)
    monkeypatch.setattr(engines_mod, "WAIT_FOR_ENGINE_S", 0.1)
    a = FakeEngine("a", down_after=0, comes_back=False)
    pool = EngineSet([a], direct)  # type: ignore[list-item]
    c = cell(catalog)
    tag = pool.prepare_image(c.distro, "x86_64", lambda m: None)
    results = pool.run_cells([c], tag, threading.Event())
    assert [(r.status, r.check) for r in results] == [(Status.ERROR, "run cell")]
    assert "no engine answered" in results[0].detail


def test_an_engine_that_cannot_run_an_arch_leaves_it_to_the_others(catalog: Catalog) -> None:
    from wheelmatrix.errors import InfrastructureError

    class NoEmulation(FakeEngine):
        def prepare_image(self, distro: Any, arch: str, log: Any) -> str:
            raise InfrastructureError("mmdebstrap failed: no qemu-aarch64 here")

    a, b = NoEmulation("a"), FakeEngine("b")
    pool = EngineSet([a, b], direct)  # type: ignore[list-item]
    c = cell(catalog)
    tag = pool.prepare_image(c.distro, "x86_64", lambda m: None)  # a cannot: b prepares it
    assert b.images == {tag}
    results = pool.run_cells([c], tag, threading.Event())
    assert [r.engine for r in results] == ["b"]
    only = EngineSet([NoEmulation("a")], direct)  # type: ignore[list-item]
    with pytest.raises(InfrastructureError, match="no qemu-aarch64"):
        only.prepare_image(c.distro, "x86_64", lambda m: None)


def test_which_engines_share_the_runners_files() -> None:
    from wheelmatrix.backends.docker.connection import is_remote as remote

    assert not remote("unix:///var/run/docker.sock") and not remote("unix:///run/podman/podman.sock")
    assert remote("tcp://127.0.0.1:2375") and remote("ssh://me@builder") and remote("https://engine:2376")


def test_the_inputs_archive_has_every_directory_even_empty_ones() -> None:
    import io
    import tarfile

    from wheelmatrix.backends.docker.engine import _tar

    data = _tar(
        {"opt/wheelmatrix/wheels/a.whl": (b"w", 0o644)}, empty_dirs=["/opt/wheelmatrix/find-links/0-x"]
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        kinds = {m.name: m.isdir() for m in tar.getmembers()}
    assert kinds["opt/wheelmatrix/find-links/0-x"] is True and kinds["opt/wheelmatrix/wheels/a.whl"] is False


def test_uvs_interpreter_bucket_is_read_from_its_binary(tmp_path: Path) -> None:
    """Each image gets its own copy of the bucket that uv names in its binary; a binary naming
    none, or two, keeps the shared one (slower, never wrong)."""
    from wheelmatrix.backends.docker.engine import _interpreter_bucket

    def binary(name: str, body: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(b"\x7fELF\0" + body + b"\0tail")
        return path

    assert (
        _interpreter_bucket(binary("uv13", b"...interpreter-v5\0wheels-v8\0interpreter-v5"))
        == "interpreter-v5"
    )
    assert _interpreter_bucket(binary("uvnone", b"wheels-v8\0simple-v28")) is None
    assert _interpreter_bucket(binary("uvtwo", b"interpreter-v5\0interpreter-v6")) is None
    assert _interpreter_bucket(tmp_path / "missing") is None
