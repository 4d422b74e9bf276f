"""The symbols probe's analysis run on the runner's side over a cell's files read through the
engine API (cell/checks/cellfiles.py) must conclude what it concludes where the files are. Here
the "cell" is this machine's own file system, read as an engine reads a container's: a tar
stream per path, links as links. Real ELF files (this machine's libcrypto, libssl, libstdc++ and
libz, copied into two "wheels" as vendored libraries, one of them installed the way uv does it:
links into a cache), and a real LD_DEBUG log of this machine's dynamic linker."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from wheelmatrix.cell.checks.cellfiles import CellFiles, TooMuchToRead
from wheelmatrix.probe import wm_symbols

LIBS = Path("/usr/lib/x86_64-linux-gnu")
NEEDED = ["libcrypto.so.3", "libssl.so.3", "libstdc++.so.6", "libz.so.1"]
pytestmark = pytest.mark.skipif(
    not all((LIBS / n).exists() for n in NEEDED), reason="needs this Debian machine's libraries"
)


def read_tree(path: str) -> Iterable[bytes]:
    """What an engine returns for a path: a tar of it (a link stays a link); nothing if absent."""
    if not os.path.lexists(path):
        return []
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(path, arcname=os.path.basename(path.rstrip("/")))
    data = buf.getvalue()
    return [data[i : i + 65536] for i in range(0, len(data), 65536)]  # in chunks, as engines do


def stack(root: Path) -> dict[str, Any]:
    """Two wheels that vendor the same libraries; wheel b installed as links into a cache."""
    site = root / "site"
    cache = root / "cache/archive-v0/Ab12/wmb"
    (site / "wma").mkdir(parents=True)
    cache.mkdir(parents=True)
    (site / "wmb").mkdir()
    for name in NEEDED:
        shutil.copy(LIBS / name, site / "wma" / name)
        shutil.copy(LIBS / name, cache / name)
        os.symlink(cache / name, site / "wmb" / name)  # absolute, as uv's links are
    os.symlink("libz.so.1", site / "wma/libz-alias.so")  # relative, to a sibling
    loaded = [str(site / "wma" / n) for n in NEEDED] + [str(cache / n) for n in NEEDED]
    loaded.append(str(LIBS / "libc.so.6"))
    return {"site": site, "cache": cache, "loaded": loaded}


def plan_for(root: Path, s: dict[str, Any]) -> dict[str, Any]:
    return {
        "python": sys.executable,
        "timeout": 60,
        "site_dirs": [str(s["site"])],
        "orders": [["wma", "wmb"]],
        "same_libs": [
            {
                "name": "libz.so.1",
                "differ": True,
                "copies": [["wma", "wma/libz.so.1"], ["wmb", "wmb/libz.so.1"]],
            }
        ],
    }


def real_log(root: Path, s: dict[str, Any], prefix: str) -> None:
    """This machine's dynamic linker binding wheel b's libssl to wheel a's libcrypto, logged."""
    env = dict(
        os.environ, LD_DEBUG="bindings", LD_DEBUG_OUTPUT=prefix, LD_LIBRARY_PATH=str(s["site"] / "wma")
    )
    code = f"import ctypes; ctypes.CDLL({str(s['site'] / 'wmb/libssl.so.3')!r})"
    subprocess.run([sys.executable, "-I", "-c", code], env=env, check=True)


def analyse(root: Path, s: dict[str, Any], view: CellFiles | None) -> Any:
    logs = root / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    real_log(root, s, str(logs / "o0"))
    observed = {
        "loaded": s["loaded"],
        "partial": False,
        "used": ["wma", "wmb"],
        "traceable": True,
        "logs": {"0": [str(logs / "o0"), True]},
        "startup": wm_symbols.startup_objects(sys.executable),
        "reserve": 512,
    }
    steps = wm_symbols.Steps()
    if view is None:
        return wm_symbols.analyse(plan_for(root, s), observed, steps, None)
    with wm_symbols.reading_through(view):
        return wm_symbols.analyse(plan_for(root, s), observed, steps, None)


def test_the_analysis_reads_the_same_through_the_engine_api(tmp_path: Path) -> None:
    s = stack(tmp_path)
    here = analyse(tmp_path, s, None)
    view = CellFiles(read_tree, tmp_path / "scratch-dir", 1 << 30)
    (tmp_path / "scratch-dir").mkdir()
    there = analyse(tmp_path, s, view)
    assert there == here
    # what the comparison is about: collisions between the wheels, bindings crossing them
    crossed = [c for c in here["collisions"] if c.get("crossed")]
    assert crossed, here["collisions"][:3]
    assert any(p.get("own_copy") and p.get("identical") for c in crossed for p in c["crossed"]), crossed[:2]
    assert here["runtimes"], here  # two copies of libstdc++ and of libcrypto loaded
    assert here["shared_copies"] and here["shared_copies"][0]["loaded"]


def test_links_are_followed_in_the_cell_not_here(tmp_path: Path) -> None:
    s = stack(tmp_path)
    (tmp_path / "scratch").mkdir()
    view = CellFiles(read_tree, tmp_path / "scratch", 1 << 30)
    linked = str(s["site"] / "wmb/libz.so.1")
    assert view.realpath(linked) == str(s["cache"] / "libz.so.1")
    assert view.realpath(str(s["site"] / "wma/libz-alias.so")) == str(s["site"] / "wma/libz.so.1")
    assert view.isfile(linked) and not view.isfile(str(s["site"] / "wma/nothing.so"))
    with view.open(linked) as fh:
        assert fh.read(4) == b"\x7fELF"
    # the copies on this side are named by a counter, whatever the cell's names are
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["1", "2"]
    # a loop of links ends, as for the kernel: no file there
    os.symlink(tmp_path / "loop-b", tmp_path / "loop-a")
    os.symlink(tmp_path / "loop-a", tmp_path / "loop-b")
    assert not view.isfile(str(tmp_path / "loop-a"))
    with pytest.raises(FileNotFoundError):
        view.open(str(tmp_path / "loop-a"))


def test_reading_stops_at_the_cap(tmp_path: Path) -> None:
    s = stack(tmp_path)
    (tmp_path / "scratch").mkdir()
    view = CellFiles(read_tree, tmp_path / "scratch", 1 << 20)  # libcrypto alone is larger
    with pytest.raises(TooMuchToRead):
        view.fetch(s["loaded"])


def test_a_folder_is_read_once_until_it_changed_and_forgotten_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "scratch").mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.1").write_text("one\n")
    view = CellFiles(read_tree, tmp_path / "scratch", 1 << 20)
    assert view.listdir(str(logs)) == ["a.1"]
    (logs / "a.2").write_text("two\n")
    assert view.listdir(str(logs)) == ["a.1"]  # read once: logs are large
    view.changed(str(logs))  # until the cell wrote there
    assert sorted(view.listdir(str(logs))) == ["a.1", "a.2"]
    with view.open(str(logs / "a.2"), "r") as fh:
        assert fh.read() == "two\n"
    view.unlink(str(logs / "a.2"))
    # each read of the folder replaced the copies of the last; a file forgotten leaves no copy,
    # and is no longer listed
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == ["2"]
    assert view.listdir(str(logs)) == ["a.1"]
    assert view.isfile(str(logs / "a.2"))  # read again from the cell when asked for
    with pytest.raises(FileNotFoundError):
        view.listdir(str(tmp_path / "no-such-folder"))


def test_files_in_a_mounted_folder_are_read_there_and_read_the_same(tmp_path: Path) -> None:
    s = stack(tmp_path)
    cache_root = tmp_path / "cache"
    asked: list[str] = []

    def local(path: str) -> tuple[Path, str] | None:
        asked.append(path)
        root = str(cache_root) + "/"
        return (cache_root, path[len(root) :]) if path.startswith(root) else None

    here = analyse(tmp_path, s, None)
    (tmp_path / "scratch").mkdir()
    through_engine: list[str] = []

    def counted(path: str) -> Iterable[bytes]:
        through_engine.append(path)
        return read_tree(path)

    with CellFiles(counted, tmp_path / "scratch", 1 << 30, local) as view:
        assert analyse(tmp_path, s, view) == here
    cached = [p for p in s["loaded"] if p.startswith(str(cache_root))]
    assert cached and not set(cached) & set(through_engine)  # read where they are mounted
    assert set(s["loaded"]) - set(cached) <= set(through_engine)  # the rest through the engine


def test_a_link_in_a_mounted_folder_is_not_followed_here(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"runner's own file")
    mounted = tmp_path / "mounted"
    (mounted / "dir").mkdir(parents=True)
    (mounted / "dir/real.so").write_bytes(b"\x7fELF...")
    os.symlink(secret, mounted / "dir/link.so")
    os.symlink(tmp_path, mounted / "up")
    from wheelmatrix.cell.checks.cellfiles import open_without_links

    fd = open_without_links(mounted, "dir/real.so")
    assert fd is not None
    os.close(fd)
    for rel in ("dir/link.so", "up/secret", "dir/../../secret", "dir", "dir/missing.so", ""):
        assert open_without_links(mounted, rel) is None, rel
    # the view sends such a file to the engine, which answers in the cell's namespace
    answered: list[str] = []

    def engine(path: str) -> Iterable[bytes]:
        answered.append(path)
        return []  # nothing there, as far as the cell knows

    (tmp_path / "scratch").mkdir()
    with CellFiles(
        engine, tmp_path / "scratch", 1 << 20, lambda p: (mounted, p[len(str(mounted)) + 1 :])
    ) as view:
        assert not view.isfile(str(mounted / "dir/link.so"))
        assert view.isfile(str(mounted / "dir/real.so"))
    assert answered == [str(mounted / "dir/link.so")]


def test_one_file_is_read_where_it_is_mounted_else_through_the_engine(tmp_path: Path) -> None:
    from wheelmatrix.cell.checks.cellfiles import read_cell_file

    mounted = tmp_path / "mounted"
    mounted.mkdir()
    (mounted / "a.so").write_bytes(b"here")
    os.symlink(tmp_path / "elsewhere", mounted / "b.so")

    class Sandbox:
        asked: list[str] = []

        def local_path(self, path: str) -> tuple[Path, str] | None:
            return (mounted, path.rsplit("/", 1)[1]) if path.startswith("/cache/") else None

        def read_file(self, path: str) -> bytes:
            self.asked.append(path)
            return b"through the engine"

    box = Sandbox()
    assert read_cell_file(box, "/cache/a.so") == b"here"
    assert read_cell_file(box, "/cache/b.so") == b"through the engine"  # a link: not followed here
    assert read_cell_file(box, "/usr/lib/libc.so.6") == b"through the engine"
    assert box.asked == ["/cache/b.so", "/usr/lib/libc.so.6"]


GOOD = {
    "loaded": ["/usr/lib/libc.so.6"],
    "startup": ["/usr/bin/python3.11"],
    "logs": {"0": ["/tmp/wm-trace/smoke-0", True]},
    "used": ["a"],
    "partial": False,
    "traceable": True,
    "reserve": 512,
    "bytes": 10,
}


@pytest.mark.parametrize(
    "change",
    [
        {"loaded": "/usr/lib/libc.so.6"},
        {"loaded": ["relative/libc.so.6"]},
        {"startup": None},
        {"logs": {"7": ["/tmp/x", True]}},  # an order the plan does not have
        {"logs": {"0": ["/tmp/x"]}},
        {"logs": {"0": ["/tmp/x", "yes"]}},
        {"logs": {"0": "/tmp/x"}},
        {"logs": {"zero": ["/tmp/x", True]}},
        {"used": "a"},
        {"partial": "no"},
        {"reserve": "512"},
        {"bytes": 1.5},
    ],
)
def test_a_malformed_observation_is_an_error_of_ours_not_a_verdict(change: dict[str, Any]) -> None:
    from types import SimpleNamespace

    from tests.fixtures.sandbox import FakeSandbox
    from wheelmatrix.cell.checks.symbols import analyse_outside, interpret_smoke
    from wheelmatrix.model import Status

    sandbox = FakeSandbox()
    ctx: Any = SimpleNamespace(sandbox=sandbox, options=SimpleNamespace(timeout_s=10.0))
    plan = {"orders": [["a"], ["a"]], "site_dirs": ["/tmp/site"]}
    records = analyse_outside(ctx, plan, {**GOOD, **change})
    assert sandbox.calls == []  # nothing read, nothing run
    checks = interpret_smoke([], [{"files": {}}, *records], ["/tmp/site"])
    assert [(c.check, c.status) for c in checks] == [("loaded DSOs", Status.ERROR)]
    assert "malformed" in checks[0].detail


def test_too_much_to_read_is_analysed_in_the_cell() -> None:
    from types import SimpleNamespace

    from tests.fixtures.sandbox import FakeSandbox
    from wheelmatrix.cell.checks.symbols import MAX_READ_BYTES, analyse_outside

    sandbox = FakeSandbox(answers={"analyse": lambda plan: [{"loaded": plan["observed"]["loaded"]}]})
    ctx: Any = SimpleNamespace(sandbox=sandbox, options=SimpleNamespace(timeout_s=10.0))
    plan = {"orders": [["a"]], "site_dirs": ["/tmp/site"]}
    records = analyse_outside(ctx, plan, {**GOOD, "bytes": MAX_READ_BYTES + 1})
    assert records == [{"loaded": GOOD["loaded"]}]
    assert [c for c, _ in sandbox.calls] == ["analyse"]
