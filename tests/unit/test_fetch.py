"""inputs/fetch.py: the exact file a cell installed, by name and sha256, and nothing else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from wheelmatrix.inputs.fetch import FetchError, download_argv, fetch_wheel


def test_download_selects_the_file_tags() -> None:
    argv = download_argv(
        "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", Path("/d")
    )
    assert argv[-1] == "numpy==2.4.6"
    assert argv[argv.index("--platform") : argv.index("--platform") + 2] == [
        "--platform",
        "manylinux_2_27_x86_64",
    ]
    assert "manylinux_2_28_x86_64" in argv and argv[argv.index("--abi") :][:2] == ["--abi", "cp312"]
    assert argv[argv.index("--python-version") + 1] == "3.12" and "--only-binary=:all:" in argv
    pure = download_argv("pyscn-1.31.1-py3-none-manylinux_2_17_x86_64.whl", Path("/d"))
    assert "--python-version" not in pure and pure[pure.index("--abi") :][:2] == ["--abi", "none"]
    abi3 = download_argv("cryptography-46.0.0-cp311-abi3-manylinux_2_34_aarch64.whl", Path("/d"))
    assert abi3[abi3.index("--python-version") + 1] == "3.11" and "abi3" in abi3


def test_a_name_that_is_no_wheel_and_a_missing_hash_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="not a wheel file name"):
        download_argv("numpy-2.4.6.tar.gz", tmp_path)
    with pytest.raises(FetchError, match="no usable sha256"):
        fetch_wheel("x-1.0-py3-none-any.whl", "")


def test_a_find_links_file_is_used_only_with_the_recorded_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHEELMATRIX_CACHE", str(tmp_path / "cache"))
    links = tmp_path / "links"
    links.mkdir()
    wheel = links / "wmx-1.0-py3-none-manylinux_2_17_x86_64.whl"
    wheel.write_bytes(b"wheel bytes")
    sha = hashlib.sha256(b"wheel bytes").hexdigest()
    assert fetch_wheel(wheel.name, sha, (links,)) == wheel
    other = hashlib.sha256(b"another build").hexdigest()
    monkeypatch.setattr("wheelmatrix.inputs.fetch.download_argv", lambda f, d: ["false"])
    with pytest.raises(FetchError, match="pip download failed"):
        fetch_wheel(wheel.name, other, (links,))
