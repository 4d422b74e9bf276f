"""Input validation (wheelmatrix/inputs.py): real wheel files on disk and requirement strings."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from packaging.tags import parse_tag

from tests.fixtures.wheels import write_wheel
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError
from wheelmatrix.inputs.wheels import parse_inputs, parse_requirement, read_wheel

PKG_FILES = {"wmdemo/__init__.py": b"VALUE = 1\n", "wmdemo/_native.abi3.so": b"\x7fELF"}


def build(
    dest: Path,
    project: str = "wmdemo",
    version: str = "1.0",
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] = PKG_FILES,
) -> Path:
    return write_wheel(dest, project, version, tag, dict(files), purelib=tag.endswith("-any"))


def rewrite(wheel: Path, changes: Mapping[str, bytes | None]) -> Path:
    """Rewrite `wheel` in place: members in `changes` get new content (None: removed)."""
    with zipfile.ZipFile(wheel) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return wheel


def input_error(fn: Callable[..., object], *args: object, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)
    assert info.value.exit_code == EXIT_BAD_INPUT == 2
    return info.value


# --------------------------------------------------------------------------- read_wheel


def test_read_valid_wheel(tmp_path: Path) -> None:
    path = build(
        tmp_path,
        project="WM.Demo-Pkg",
        tag="cp39-abi3-manylinux_2_17_x86_64",
        files={"wm_demo_pkg/__init__.py": b""},
    )
    wf = read_wheel(path)

    assert wf.project == "wm-demo-pkg"
    assert wf.version == "1.0"
    assert {str(t) for t in wf.triples} == {str(t) for t in parse_tag("cp39-abi3-manylinux_2_17_x86_64")}
    assert wf.modules == ("wm_demo_pkg",)
    assert wf.filename == path.name
    assert wf.path.is_absolute()


def test_modules_come_from_top_level_txt(tmp_path: Path) -> None:
    path = rewrite(
        build(tmp_path),
        {
            "wmdemo-1.0.dist-info/top_level.txt": b"alpha\nbeta/sub\n\n_private\nnot-an-identifier\nalpha\n"
            b"__dummy__\n",
            "alpha/__init__.py": b"",
            "beta/sub/__init__.py": b"",
            "_private.py": b"",
        },
    )
    # listed and shipped, in listed order; `__dummy__` is listed without any file: not a module;
    # `beta` has no __init__.py (a PEP 420 namespace): its package `beta.sub` is imported
    assert read_wheel(path).modules == ("alpha", "beta.sub", "_private")


def test_modules_without_top_level_txt_come_from_file_names(tmp_path: Path) -> None:
    files = {
        "wmdemo/__init__.py": b"",
        "wmdemo/sub/deep.py": b"",
        "extonly/_x.abi3.so": b"",
        "single.py": b"",
        "fast.cpython-311-x86_64-linux-gnu.so": b"",
        "wmdemo.libs/libz-1a2b3c.so": b"",
        "docs/readme.txt": b"",
        "wmdemo-1.0.data/scripts/tool.py": b"",
    }
    path = rewrite(build(tmp_path, files=files), {"wmdemo-1.0.dist-info/top_level.txt": None})
    # `extonly` has no __init__.py: importing it would load nothing, its extension is imported
    assert read_wheel(path).modules == ("extonly._x", "fast", "single", "wmdemo")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "wmdemo-1.0-py3-none-any.whl"
    err = input_error(read_wheel, path)
    assert str(path) in err.message and "no such file" in err.message


def test_bad_file_name(tmp_path: Path) -> None:
    path = build(tmp_path).rename(tmp_path / "wmdemo.whl")
    err = input_error(read_wheel, path)
    assert str(path) in err.message and "not a valid wheel file name" in err.message


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "wmdemo-1.0-py3-none-any.whl"
    path.write_bytes(b"<html>404 Not Found</html>\n")
    err = input_error(read_wheel, path)
    assert str(path) in err.message and "not a zip" in err.message


def test_zip_without_dist_info(tmp_path: Path) -> None:
    path = tmp_path / "wmdemo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("wmdemo/__init__.py", "")
    err = input_error(read_wheel, path)
    assert str(path) in err.message and "wmdemo-1.0.dist-info" in err.message


def test_metadata_name_does_not_match_file_name(tmp_path: Path) -> None:
    path = rewrite(
        build(tmp_path),
        {
            "wmdemo-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: somethingelse\nVersion: 1.0\n",
        },
    )
    err = input_error(read_wheel, path)
    assert str(path) in err.message
    assert "somethingelse" in err.message and "wmdemo" in err.message


# --------------------------------------------------------------------------- parse_requirement


@pytest.mark.parametrize(
    "text, project",
    [
        ("numpy>=1.26", "numpy"),
        ('pkg[extra]; python_version>"3.8"', "pkg"),
        ("Typing_Extensions==4.12.2", "typing-extensions"),
        ("wmdemo @ https://example.org/wmdemo-1.0-py3-none-any.whl", "wmdemo"),
    ],
)
def test_parse_requirement_accepts_pep508(text: str, project: str) -> None:
    assert parse_requirement(text).project == project


def test_parse_requirement_keeps_the_normalised_text() -> None:
    assert parse_requirement('pkg[extra]; python_version>"3.8"').text == 'pkg[extra]; python_version > "3.8"'


@pytest.mark.parametrize(
    "text",
    [
        "numpy && rm -rf /",
        "numpy; rm -rf /",
        "$(reboot)",
        "`reboot`",
        "numpy | sh",
        "pkg @ file:///etc/passwd",
    ],
)
def test_parse_requirement_rejects_shell_and_local_urls(text: str) -> None:
    err = input_error(parse_requirement, text)
    assert f"'{text}'" in err.message


# --------------------------------------------------------------------------- parse_inputs


def test_parse_inputs_groups_wheels_of_one_project(tmp_path: Path) -> None:
    x86 = build(tmp_path, tag="cp39-abi3-manylinux_2_17_x86_64")
    arm = build(
        tmp_path,
        tag="cp39-abi3-manylinux_2_17_aarch64",
        files={"wmdemo/__init__.py": b"", "wmdemo_extra.py": b""},
    )
    other = build(tmp_path, project="wmother", files={"wmother/__init__.py": b""})

    projects = parse_inputs([str(x86), "numpy>=1.26", str(arm), str(other)], role="candidate")

    by_name = {str(p.name): p for p in projects}
    assert set(by_name) == {"wmdemo", "wmother", "numpy"}
    assert [w.filename for w in by_name["wmdemo"].wheels] == [x86.name, arm.name]
    assert by_name["wmdemo"].modules == ("wmdemo", "wmdemo_extra")
    assert by_name["numpy"].requirement is not None and by_name["numpy"].modules is None


def test_parse_inputs_same_project_twice_as_requirements() -> None:
    err = input_error(parse_inputs, ["numpy>=1.26", "NumPy<3"], role="companion")
    assert "numpy" in err.message and "twice" in err.message and "companion" in err.message


def test_parse_inputs_same_project_as_wheel_and_requirement(tmp_path: Path) -> None:
    err = input_error(parse_inputs, [str(build(tmp_path)), "wmdemo>=1"], role="candidate")
    assert "wmdemo" in err.message and "both" in err.message


def test_parse_inputs_wheels_of_different_versions(tmp_path: Path) -> None:
    one, two = build(tmp_path, version="1.0"), build(tmp_path, version="2.0")
    err = input_error(parse_inputs, [str(one), str(two)], role="candidate")
    assert "1.0" in err.message and "2.0" in err.message and "wmdemo" in err.message


def test_parse_inputs_reports_the_bad_wheel(tmp_path: Path) -> None:
    bad = tmp_path / "wmbroken-1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    err = input_error(parse_inputs, ["numpy", str(bad)], role="candidate")
    assert str(bad) in err.message


def test_a_wheels_digest_is_computed_once_per_version_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept in the cache under the file's identity; any write makes a new version, even one
    that puts the size and the modification time back."""
    import hashlib
    import os

    from wheelmatrix.inputs import wheels as wheels_mod

    monkeypatch.setenv("WHEELMATRIX_CACHE", str(tmp_path / "cache"))
    wheel = tmp_path / "w-1.0-py3-none-any.whl"
    wheel.write_bytes(b"first version")
    want = hashlib.sha256(b"first version").hexdigest()
    assert wheels_mod.file_sha256(wheel) == want
    reads: list[Path] = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: reads.append(self) or real_open(self, *a, **k))
    assert wheels_mod.file_sha256(wheel) == want and wheel not in reads  # read from the cache
    st = wheel.stat()
    wheel.write_bytes(b"other version")  # same size
    os.utime(wheel, ns=(st.st_atime_ns, st.st_mtime_ns))  # same modification time
    assert wheels_mod.file_sha256(wheel) == hashlib.sha256(b"other version").hexdigest()
    assert wheel in reads
    # a damaged cache entry is computed again, not believed
    for entry in (tmp_path / "cache" / "digests").rglob("*"):
        if entry.is_file():
            entry.write_text("not a digest\n")
    assert wheels_mod.file_sha256(wheel) == hashlib.sha256(b"other version").hexdigest()
