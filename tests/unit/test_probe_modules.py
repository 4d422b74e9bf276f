"""Which top-level modules count: listed in top_level.txt *and* shipped (RECORD / wheel files)."""

from __future__ import annotations

from pathlib import Path

from wheelmatrix.inputs.wheels import _modules
from wheelmatrix.probe import wm_probe


def _dist(site: Path, name: str, top_level: str | None, record: list[str]) -> Path:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    if top_level is not None:
        (info / "top_level.txt").write_text(top_level)
    (info / "RECORD").write_text("".join(f"{p},sha256=x,1\n" for p in record))
    return info


def test_listed_name_without_files_is_noted_not_imported(tmp_path: Path) -> None:
    """pyarrow 19.0.1 lists `__dummy__` in top_level.txt, a build artefact with no file."""
    info = _dist(
        tmp_path,
        "pyarrow",
        "__dummy__\npyarrow\n",
        [
            "pyarrow/__init__.py",
            "pyarrow/lib.cpython-311-x86_64-linux-gnu.so",
            "pyarrow-1.0.dist-info/RECORD",
        ],
    )
    assert wm_probe.modules_of(str(info)) == (["pyarrow"], ["__dummy__"])
    modules, _files, unshipped, _digests = wm_probe.resolve([str(tmp_path)], ["pyarrow"])
    assert modules == {"pyarrow": ["pyarrow"]} and unshipped == {"pyarrow": ["__dummy__"]}


def test_without_top_level_the_record_decides(tmp_path: Path) -> None:
    info = _dist(tmp_path, "single", None, ["single.py", "pkg/__init__.py", "pkg.libs/libx.so.1"])
    assert wm_probe.modules_of(str(info)) == (["pkg", "single"], [])


def test_host_side_wheel_modules_apply_the_same_rule() -> None:
    names = ["pyarrow/__init__.py", "pyarrow/lib.so", "pyarrow-19.0.1.dist-info/METADATA"]
    assert _modules("__dummy__\npyarrow\n", names) == ("pyarrow",)
    assert _modules("ghost\n", ["real/__init__.py"]) == ("real",)


def _dist_with_hashes(site: Path, name: str, entries: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "RECORD").write_text(
        "".join(f"{p},{h},10\n" for p, h in entries.items()) + f"{info.name}/RECORD,,\n"
    )


def test_installed_set_finds_overlapping_files_and_who_won(tmp_path: Path) -> None:
    (tmp_path / "cv2").mkdir()
    (tmp_path / "cv2" / "__init__.py").write_text("headless\n")
    on_disk = wm_probe.file_digest(str(tmp_path / "cv2" / "__init__.py"))
    _dist_with_hashes(
        tmp_path, "opencv_python", {"cv2/__init__.py": "sha256=AAAA", "cv2/same.py": "sha256=S"}
    )
    _dist_with_hashes(
        tmp_path, "opencv_python_headless", {"cv2/__init__.py": str(on_disk), "cv2/same.py": "sha256=S"}
    )
    got = wm_probe.installed_set([str(tmp_path), str(tmp_path / "missing")])
    by_path = {o["path"]: o for o in got["overlaps"]}
    assert by_path["cv2/__init__.py"] == {
        "path": "cv2/__init__.py",
        "dists": ["opencv-python", "opencv-python-headless"],
        "differ": True,
        "on_disk_from": ["opencv-python-headless"],
    }
    assert by_path["cv2/same.py"]["differ"] is False
    assert got["overlap_count"] == 2


def test_installed_set_finds_same_named_bundled_libraries(tmp_path: Path) -> None:
    _dist_with_hashes(
        tmp_path, "a", {"a.libs/libgfortran-040039e1.so.5.0.0": "sha256=X", "a/_x.abi3.so": "sha256=1"}
    )
    _dist_with_hashes(
        tmp_path, "b", {"b.libs/libgfortran-040039e1.so.5.0.0": "sha256=Y", "b/_x.abi3.so": "sha256=2"}
    )
    got = wm_probe.installed_set([str(tmp_path)])
    assert got["overlaps"] == []
    (same,) = got["same_libs"]
    assert same["name"] == "libgfortran-040039e1.so.5.0.0" and same["differ"] is True
    assert [c[0] for c in same["copies"]] == ["a", "b"]


def test_a_directory_of_shared_libraries_is_not_a_module(tmp_path: Path) -> None:
    """In the cell as on the host: `pkg/lib/libfoo.so` (ctypes-loaded, nvidia-style) makes
    no module, so the import scenario loads the library instead of importing an empty
    namespace package; an extension module named `lib` (pyarrow's) still counts."""
    record = ["wmlib/lib/libwmlib.so", "wmlib/lib/libwmlib.so.1", "../../../bin/wmlib-tool"]
    info = _dist(tmp_path, "wmlib", "wmlib\n", record)
    assert wm_probe.modules_of(str(info)) == ([], ["wmlib"])
    assert _modules("wmlib\n", record[:2]) == ()
    ext = ["wmarrow/lib.cpython-311-x86_64-linux-gnu.so"]  # no __init__.py: a PEP 420 namespace
    assert _modules(None, ext) == ("wmarrow.lib",)
    arrow = _dist(tmp_path / "b", "wmarrow", None, ext)
    assert wm_probe.shipped_modules(str(arrow)) == {"wmarrow"}
    assert wm_probe.modules_of(str(arrow)) == (["wmarrow.lib"], [])
