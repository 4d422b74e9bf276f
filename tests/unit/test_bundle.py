"""Writing a reproducer bundle without an engine (a fake image store): the files, the lock,
no path of this machine in any text file, and nothing left behind when writing fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.wheels import write_wheel
from wheelmatrix.config.catalog import default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.inputs.wheels import file_sha256, read_wheel
from wheelmatrix.matrix.cells import Cell, Pick
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.service.bundle import BundleSpec, write_bundle


class FakeImage:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def save(self, named: bool = False) -> Iterator[bytes]:
        yield b"layer-1"
        if self.fail:
            raise OSError("disk full")
        yield b"layer-2"


class FakeClient:
    """The one thing a bundle asks of an engine: the image as a `docker save` stream."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def save_image(self, ref: str) -> Iterator[bytes]:
        return FakeImage(self.fail).save(named=True)


def spec(tmp_path: Path) -> BundleSpec:
    wheel = write_wheel(
        tmp_path / "dist", "wmb", "1.0", "py3-none-any", {"wmb/__init__.py": b""}, purelib=True
    )
    links = tmp_path / "links"
    other = write_wheel(links, "wmdep", "2.0", "py3-none-any", {"wmdep/__init__.py": b""}, purelib=True)
    write_wheel(links, "wmdep", "1.0", "py3-none-any", {"wmdep/__init__.py": b"old"}, purelib=True)
    distro = load_catalog(default_catalog_path()).get("debian-12")
    cell = Cell(
        distro=distro,
        arch="x86_64",
        scenario=Scenario(name="import", kind="import", description="imports"),
        emulated=False,
        candidates=(Pick(project="wmb", wheel=read_wheel(wheel)),),
    )
    result = CheckResult(
        distro="debian-12", arch="x86_64", python="3.11", scenario="import", check="repro",
        status=Status.CRASHED, detail=f"SIGSEGV in {tmp_path}/dist/wmb", diagnosis="bound across wheels",
        evidence={"output_tail": f"File {Path.home()}/x.py line 1"},
    )  # fmt: skip
    assert other.exists()
    return BundleSpec(
        cell=cell, image="wheelmatrix/debian-12:x86_64-abc",
        argv=["/tmp/wm-venv/bin/python", "-c", "import wmb"],
        result=result, exit_code=139, signature="crashed (SIGSEGV)", installed=("wmb==1.0", "wmdep==2.0"),
        find_links=(links,), memory="4g", pids=1024,
    )  # fmt: skip


def test_bundle_files_lock_and_no_host_paths(tmp_path: Path) -> None:
    s = spec(tmp_path)
    out = write_bundle(tmp_path / "out", s, FakeClient(), lambda _m: None)  # type: ignore[arg-type]
    names = {p.name for p in out.iterdir()}
    assert names == {
        "Dockerfile",
        "run.sh",
        "README.md",
        "requirements.lock",
        "image.tar",
        "wheels",
        ".dockerignore",
    }
    assert (out / "image.tar").read_bytes() == b"layer-1layer-2"
    lock = (out / "requirements.lock").read_text().splitlines()[1:]
    dep = tmp_path / "links" / "wmdep-2.0-py3-none-any.whl"
    assert lock == [
        f"./wheels/wmb-1.0-py3-none-any.whl --hash=sha256:{s.cell.candidates[0].wheel.sha256}",  # type: ignore[union-attr]
        f"./wheels/wmdep-2.0-py3-none-any.whl --hash=sha256:{file_sha256(dep)}",
    ]
    docker = (out / "Dockerfile").read_text()
    assert (
        "FROM wheelmatrix/debian-12:x86_64-abc" in docker
        and "--no-index" in docker
        and "--require-hashes" in docker
    )
    assert 'CMD ["/tmp/wm-venv/bin/python", "-c", "import wmb"]' in docker
    assert "--memory 4g --pids-limit 1024" in (out / "run.sh").read_text()
    readme = (out / "README.md").read_text()
    assert "exit code: 139" in readme and "bound across wheels" in readme
    for path in out.rglob("*"):
        if path.is_file() and path.suffix not in (".tar", ".whl"):
            text = path.read_text()
            assert str(tmp_path) not in text and str(Path.home()) not in text, (path.name, text)


def test_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    s = spec(tmp_path)
    with pytest.raises(OSError, match="disk full"):
        write_bundle(tmp_path / "out", s, FakeClient(fail=True), lambda _m: None)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out-")]
