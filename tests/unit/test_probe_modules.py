"""Which top-level modules count: listed in top_level.txt *and* shipped (RECORD / wheel files)."""

from __future__ import annotations

from pathlib import Path

from runner.inputs import _modules
from runner.probe import wm_probe


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
    modules, _files, unshipped = wm_probe.resolve([str(tmp_path)], ["pyarrow"])
    assert modules == {"pyarrow": ["pyarrow"]} and unshipped == {"pyarrow": ["__dummy__"]}


def test_without_top_level_the_record_decides(tmp_path: Path) -> None:
    info = _dist(tmp_path, "single", None, ["single.py", "pkg/__init__.py", "pkg.libs/libx.so.1"])
    assert wm_probe.modules_of(str(info)) == (["pkg", "single"], [])


def test_host_side_wheel_modules_apply_the_same_rule() -> None:
    names = ["pyarrow/__init__.py", "pyarrow/lib.so", "pyarrow-19.0.1.dist-info/METADATA"]
    assert _modules("__dummy__\npyarrow\n", names) == ("pyarrow",)
    assert _modules("ghost\n", ["real/__init__.py"]) == ("real",)
