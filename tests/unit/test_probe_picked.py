"""Which wheel file the installer picked: the install probe reads uv's cache entries, pip's
--report and direct_url.json (the fixtures are the real files uv 0.13.9 and pip 23.2.1 wrote)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from wheelmatrix.cell.plan import picked_wheels
from wheelmatrix.probe import wm_probe

DATA = Path(__file__).parent / "data"
MARKUPSAFE_FILE = (
    "markupsafe-3.0.4-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl"
)
MARKUPSAFE_SHA = "6da83a088f8ef93b2d483a8232a4dbf4d69d3d8496b568a03c56becac43e1808"
MARKUPSAFE_TAGS = [
    "cp311-cp311-manylinux_2_17_x86_64",
    "cp311-cp311-manylinux2014_x86_64",
    "cp311-cp311-manylinux_2_28_x86_64",
]


def _dist(site: Path, name: str, version: str, tags: list[str], build: str = "") -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Wheel-Version: 1.0", "Root-Is-Purelib: false", *(f"Tag: {t}" for t in tags)]
    if build:
        lines.append(f"Build: {build}")
    (info / "WHEEL").write_text("\n".join(lines) + "\n")
    (info / "METADATA").write_text(f"Name: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{name}-{version}.dist-info/METADATA,,\n")
    return info


def _uv_cache(root: Path, entries: dict[str, str]) -> Path:
    """A uv cache laid out as uv 0.13.9 lays it out, holding the real entry files."""
    for dest, fixture in entries.items():
        path = root / "wheels-v8" / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / "uv-cache-0.13.9" / fixture, path)
    return root


def test_uv_cache_entry_gives_file_name_and_sha256(tmp_path: Path) -> None:
    assert wm_probe.uv_entry(str(DATA / "uv-cache-0.13.9" / "markupsafe-3.0.4.http")) == (
        "l709ISBQvDnh0pTq",
        MARKUPSAFE_FILE,
        MARKUPSAFE_SHA,
    )
    site = tmp_path / "site"
    _dist(site, "markupsafe", "3.0.4", MARKUPSAFE_TAGS)
    _dist(site, "six", "1.17.0", ["py2-none-any", "py3-none-any"])
    cache = _uv_cache(
        tmp_path / "uv",
        {
            "pypi/markupsafe/3.0.4-516d0c2242d49034.http": "markupsafe-3.0.4.http",
            "pypi/six/1.17.0-py2.py3-none-any.http": "six-1.17.0.http",
        },
    )
    got = wm_probe.picked_wheels([str(site)], uv_cache=str(cache))
    assert got["markupsafe"] == {
        "file": MARKUPSAFE_FILE,
        "sha256": MARKUPSAFE_SHA,
        "source": "uv-cache",
        "tag": "cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64",
    }
    assert got["six"]["file"] == "six-1.17.0-py2.py3-none-any.whl"
    assert got["six"]["tag"] == "py2.py3-none-any" and len(got["six"]["sha256"]) == 64


def test_a_cached_wheel_of_another_platform_is_not_taken(tmp_path: Path) -> None:
    """The cache is shared by every cell: an aarch64 install must not get the x86_64 file."""
    site = tmp_path / "site"
    _dist(site, "markupsafe", "3.0.4", [t.replace("x86_64", "aarch64") for t in MARKUPSAFE_TAGS])
    cache = _uv_cache(
        tmp_path / "uv", {"pypi/markupsafe/3.0.4-516d0c2242d49034.http": "markupsafe-3.0.4.http"}
    )
    got = wm_probe.picked_wheels([str(site)], uv_cache=str(cache))["markupsafe"]
    assert got["sha256"] is None and got["source"] == "dist-info"
    assert got["file"] == MARKUPSAFE_FILE.replace("x86_64", "aarch64")  # rebuilt from WHEEL, tags sorted
    assert "no record" in got["no_hash"]


def test_two_fitting_entries_are_told_apart_by_the_linked_archive(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = _dist(site, "markupsafe", "3.0.4", MARKUPSAFE_TAGS)
    cache = _uv_cache(
        tmp_path / "uv",
        {
            "pypi/markupsafe/3.0.4-516d0c2242d49034.http": "markupsafe-3.0.4.http",
            "index/0123abcd/markupsafe/3.0.4-516d0c2242d49034.http": "markupsafe-3.0.4.http",
        },
    )
    other = cache / "wheels-v8" / "index/0123abcd/markupsafe/3.0.4-516d0c2242d49034.http"
    data = other.read_bytes()
    other.write_bytes(
        data.replace(MARKUPSAFE_SHA.encode(), b"0" * 64).replace(b"l709ISBQvDnh0pTq", b"OTHERARCHIVE0000")
    )
    unlinked = wm_probe.picked_wheels([str(site)], uv_cache=str(cache))["markupsafe"]
    assert unlinked["sha256"] is None and "2 wheels" in unlinked["no_hash"]
    # uv's symlink mode: the installed files point into the archive the entry names
    archive = cache / "archive-v0" / "l709ISBQvDnh0pTq" / "markupsafe-3.0.4.dist-info"
    archive.mkdir(parents=True)
    (archive / "METADATA").write_text("Name: markupsafe\n")
    (info / "METADATA").unlink()
    (info / "METADATA").symlink_to(archive / "METADATA")
    wm_probe.record_entries.cache_clear()
    linked = wm_probe.picked_wheels([str(site)], uv_cache=str(cache))["markupsafe"]
    assert linked["sha256"] == MARKUPSAFE_SHA and linked["source"] == "uv-cache"


def test_pip_report_gives_file_name_and_sha256(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _dist(site, "pyyaml", "6.0.3", MARKUPSAFE_TAGS)
    got = wm_probe.picked_wheels([str(site)], pip_report=str(DATA / "pip-report-23.2.1.json"))["pyyaml"]
    assert got == {
        "file": MARKUPSAFE_FILE.replace("markupsafe-3.0.4", "pyyaml-6.0.3"),
        "sha256": "b8bb0864c5a28024fac8a632c443c87c5aa6f215c0b126c449ae1a150412f31d",
        "source": "pip-report",
        "tag": "cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64",
    }


def test_local_file_hash_comes_from_the_host(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = _dist(site, "demo", "1.0", ["py3-none-any"], build="7")
    url = "file:///opt/wheelmatrix/wheels/demo-1.0-7-py3-none-any.whl"
    (info / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": {}}))
    raw = wm_probe.picked_wheels([str(site)])
    assert raw["demo"]["file"] == "demo-1.0-7-py3-none-any.whl" and raw["demo"]["sha256"] is None
    host = picked_wheels(raw, {"demo-1.0-7-py3-none-any.whl": "ab" * 32})
    assert host["demo"] == {
        "file": "demo-1.0-7-py3-none-any.whl",
        "tag": "py3-none-any",
        "source": "local-file",
        "sha256": "ab" * 32,
    }
    assert picked_wheels(raw, {})["demo"]["no_hash"].startswith("installed from a file")


@pytest.mark.parametrize(
    ("version", "supported"), [("21.3.1", False), ("22.1.2", False), ("22.2", True), ("25.0.1", True)]
)
def test_pip_report_only_asked_of_a_pip_that_knows_it(tmp_path: Path, version: str, supported: bool) -> None:
    _dist(tmp_path, "pip", version, ["py3-none-any"])
    assert wm_probe.pip_has_report([str(tmp_path)]) is supported


@pytest.mark.parametrize(
    "blob", [b"", b"\x95", b"\x93\xa2id\x90\xa5x.tar", b"\xc1", b"\x95\xd9\xff" + b"a" * 10, b"\x00" * 10]
)
def test_broken_uv_entries_are_skipped(tmp_path: Path, blob: bytes) -> None:
    path = tmp_path / "entry.http"
    path.write_bytes(blob)
    assert wm_probe.uv_entry(str(path)) is None


def test_file_name_as_the_index_spells_it_from_the_entrys_url(tmp_path: Path) -> None:
    """uv keeps the name normalized (markupsafe-...); the index's file is MarkupSafe-... for
    older releases: the URL in the sibling metadata file has the original spelling."""
    entry = tmp_path / "3.0.4-516d0c2242d49034.http"
    shutil.copy(DATA / "uv-cache-0.13.9" / "markupsafe-3.0.4.http", entry)
    meta = (DATA / "uv-cache-0.13.9" / "markupsafe-3.0.4.msgpack").read_bytes()
    assert wm_probe.uv_entry(str(entry))[1] == MARKUPSAFE_FILE  # no metadata file: uv's spelling
    entry.with_suffix(".msgpack").write_bytes(meta.replace(b"/markupsafe-3.0.4", b"/MarkupSafe-3.0.4"))
    assert wm_probe.uv_entry(str(entry))[1] == MARKUPSAFE_FILE.replace("markupsafe", "MarkupSafe")
