"""cell/bytecode.py: what is read out of an emulated cell for the native compile, and how the
compiled tree goes back (real tar archives; the sandbox is the fake one)."""

from __future__ import annotations

import io
import py_compile
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import IO

from tests.fixtures.sandbox import FakeSandbox
from wheelmatrix.backends.layout import UV_CACHE
from wheelmatrix.cell import bytecode
from wheelmatrix.cell.bytecode import COMPILE_PREFIX, BytecodeStore, sources_archive

SITE = "/tmp/wm-venv/lib/python3.11/site-packages"
ARCHIVE = f"{UV_CACHE}/archive-v0/AbC123"


def tree(entries: dict[str, bytes | str | None], top: str) -> bytes:
    """A tar as the engine gives a directory: names relative to its parent; bytes are files, a
    str a symlink target, None a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, value in entries.items():
            info = tarfile.TarInfo(f"{top}/{name}" if name else top)
            if value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return buf.getvalue()


def names(archive: IO[bytes]) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=archive) as tar:
        return {m.name: m for m in tar.getmembers()}


def test_sources_and_the_uv_cache_files_their_symlinks_point_to_are_read_out() -> None:
    sandbox = FakeSandbox()
    sandbox.trees[SITE] = tree(
        {
            "": None,
            "pkg": None,
            "pkg/__init__.py": b"x = 1\n",
            "pkg/_native.so": b"\x7fELF...",  # not a source: left in the cell
            "pkg/linked.py": f"{ARCHIVE}/pkg/linked.py",
            "pkg/" + "d" * 120: None,  # a long path: it travels in a pax header
            "pkg/" + "d" * 120 + "/deep.py": b"z = 3\n",
            "pkg-1.0.dist-info": None,
            "pkg-1.0.dist-info/RECORD": b"...",
        },
        "site-packages",
    )
    sandbox.trees[ARCHIVE] = tree(
        {"": None, "pkg": None, "pkg/linked.py": b"y = 2\n", "pkg/big.bin": b"0" * 10}, "AbC123"
    )
    got = sources_archive(sandbox.read_tree, [SITE, SITE.replace("/lib/", "/lib64/")])
    assert got is not None
    archive, count = got
    assert count == 3  # the sources the venv imports from
    members = names(archive)
    site = SITE.lstrip("/")
    assert f"{site}/pkg/__init__.py" in members
    assert f"{site}/pkg/{'d' * 120}/deep.py" in members, sorted(members)
    assert members[f"{site}/pkg/linked.py"].issym()
    assert members[f"{ARCHIVE.lstrip('/')}/pkg/linked.py"].isfile()
    assert not [n for n in members if n.endswith((".so", ".bin", "RECORD"))]
    assert all(m.uid == 0 and (m.mode == 0o755 if m.isdir() else m.mode == 0o644) for m in members.values())
    # a directory the cell does not have (lib64) is read as nothing, not an error
    assert ("read_tree", SITE.replace("/lib/", "/lib64/")) in sandbox.calls
    # a cache folder the compile sandbox mounts itself is not read out of the cell
    sandbox.calls.clear()
    got = sources_archive(sandbox.read_tree, [SITE], mounted=lambda root: root == ARCHIVE)
    assert got is not None and got[1] == 3
    assert f"{ARCHIVE.lstrip('/')}/pkg/linked.py" not in names(got[0])
    assert ("read_tree", ARCHIVE) not in sandbox.calls
    # too few sources to be worth compiling natively: the cache files are not read at all
    sandbox.calls.clear()
    got = sources_archive(sandbox.read_tree, [SITE], at_least=4)
    assert got is not None and got[1] == 3
    assert ("read_tree", ARCHIVE) not in sandbox.calls and ("read_tree", SITE) in sandbox.calls


def test_a_source_tree_over_the_limit_is_left_to_compile_lazily(monkeypatch: object) -> None:
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setattr(bytecode, "MAX_SOURCE_BYTES", 10)
    try:
        sandbox = FakeSandbox()
        sandbox.trees[SITE] = tree({"": None, "a.py": b"x = 1\n" * 5}, "site-packages")
        assert sources_archive(sandbox.read_tree, [SITE]) is None
    finally:
        mp.undo()


def test_the_compiled_tree_goes_back_as_the_check_users_cache(tmp_path: Path) -> None:
    """Compiled as the native sandbox does (checked-hash, under a pycache prefix), kept in the
    image's store, then renamed to the check user's prefix, owned by it; Python then uses it
    for the source, unchanged."""
    src = tmp_path / "src" / "mod.py"
    src.parent.mkdir()
    src.write_text("VALUE = 42\n")
    prefix = tmp_path / COMPILE_PREFIX.lstrip("/")
    subprocess.run(
        [
            sys.executable, "-X", f"pycache_prefix={prefix}", "-c",
            "import compileall, py_compile, sys; compileall.compile_dir(sys.argv[1], quiet=2, "
            "invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)",
            str(src.parent),
        ],
        check=True,
    )  # fmt: skip
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(prefix, arcname=Path(COMPILE_PREFIX).name)
    buf.seek(0)
    store = BytecodeStore(tmp_path / "store")
    store.add(buf, {str(src): "digest-1"}, stdlib=False)
    assert store.missing({str(src): "digest-1"}) == [] and not store.has_stdlib
    assert store.missing({str(src): "digest-2"}) == [str(src)]  # the source changed
    user_prefix = tmp_path / "wm-pycache-65534"
    back = store.archive([str(src)], str(user_prefix), 65534)
    members = names(back)
    assert all(n.split("/")[0] == "wm-pycache-65534" for n in members), sorted(members)
    assert all(m.uid == m.gid == 65534 for m in members.values())
    back.seek(0)
    with tarfile.open(fileobj=back) as tar:
        tar.extractall(tmp_path, filter="tar")
    pyc = next(user_prefix.rglob("mod.*.pyc"))
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b11  # hash-based, checked
    # the interpreter imports the module through that cache without compiling it again
    probe = (
        "import importlib.util, sys, mod\nprint(mod.VALUE, importlib.util.cache_from_source(mod.__file__))\n"
    )
    out = subprocess.run(
        [sys.executable, "-X", f"pycache_prefix={user_prefix}", "-B", "-c", probe],
        cwd=src.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == "42" and Path(out[1]) == pyc
    assert py_compile.PycInvalidationMode.CHECKED_HASH  # the mode the engines compile with


def _compiled(entries: dict[str, bytes]) -> io.BytesIO:
    """A compile sandbox's output: a tar of COMPILE_PREFIX with these members under it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(f"{Path(COMPILE_PREFIX).name}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_the_store_gives_a_cell_its_own_sources_and_the_standard_library(tmp_path: Path) -> None:
    store = BytecodeStore(tmp_path / "store")
    mine, other = f"{SITE}/numpy/core.py", f"{SITE}/scipy/linalg.py"
    store.add(
        _compiled({
            f"{SITE.lstrip('/')}/numpy/core.cpython-311.pyc": b"numpy",
            f"{SITE.lstrip('/')}/scipy/linalg.cpython-311.pyc": b"scipy",
            "usr/lib/python3.11/json/decoder.cpython-311.pyc": b"json",
        }),
        {mine: "a", other: "b"},
        stdlib=True,
    )  # fmt: skip
    assert store.has_stdlib and store.missing({mine: "a", "/x.py": "c"}) == ["/x.py"]
    got = names(store.archive([mine], "/tmp/wm-pycache-7", 7))
    files = sorted(n for n, m in got.items() if m.isfile())
    assert files == [
        f"wm-pycache-7{SITE}/numpy/core.cpython-311.pyc",
        "wm-pycache-7/usr/lib/python3.11/json/decoder.cpython-311.pyc",
    ]  # not the other cell's scipy
    assert all(m.uid == 7 for m in got.values()) and got["wm-pycache-7/usr"].isdir()


def test_the_store_keeps_only_bytecode_files_inside_its_tree(tmp_path: Path) -> None:
    store = BytecodeStore(tmp_path / "store")
    store.add(
        _compiled({"../escape.pyc": b"x", "a/../../escape2.pyc": b"x", "a/b.pyc": b"ok", "a/c.sh": b"no"}),
        {"/a/b.py": "d"},
        stdlib=False,
    )
    kept = sorted(str(p.relative_to(store.folder)) for p in store.folder.rglob("*") if p.is_file())
    assert kept == ["sources.json", "tree/a/b.pyc"]
    assert not (tmp_path / "escape.pyc").exists()


def test_a_path_another_package_made_a_folder_of_is_not_kept_and_nothing_raises(tmp_path: Path) -> None:
    store = BytecodeStore(tmp_path / "store")
    (store.tree / "a" / "b.cpython-311.pyc").mkdir(parents=True)  # a wheel's folder of that name
    store.add(_compiled({"a/b.cpython-311.pyc": b"x", "a/c.cpython-311.pyc": b"ok"}), {"/a/b.py": "d"}, False)
    assert (store.tree / "a" / "b.cpython-311.pyc").is_dir()
    assert (store.tree / "a" / "c.cpython-311.pyc").read_bytes() == b"ok"
    assert not [p for p in store.tree.rglob("*.part")]
