"""The symbol probe's reading of definitions (probe/wm_symbols.py), on shared objects compiled here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from wheelmatrix.probe import wm_symbols

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")

SOURCE = """
inline int &counter() { static int c = %(counter)s; return c; }  // STB_GNU_UNIQUE object
extern "C" int wm_table[4];
int wm_table[4] = {%(table)s};                                    // data the loader leaves alone
extern "C" const char *wm_name;
const char *wm_name = "wm";                                       // a pointer the loader writes
extern "C" int wm_bss[%(bss)s];
int wm_bss[%(bss)s];                                              // zero-initialised
extern "C" int wm_use() { return counter() + wm_table[0] + wm_bss[0] + wm_name[0]; }
"""


def build(tmp: Path, name: str, **values: str) -> str:
    src, out = tmp / f"{name}.cpp", tmp / f"lib{name}.so"
    src.write_text(SOURCE % values)
    subprocess.run(["g++", "-shared", "-fPIC", "-O1", "-o", str(out), str(src)], check=True)
    return str(out)


@pytest.fixture(scope="module")
def libs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    tmp = tmp_path_factory.mktemp("defs")
    a = build(tmp, "a", counter="1", table="1, 2, 3, 4", bss="4")
    same = build(tmp, "b", counter="1", table="1, 2, 3, 4", bss="4")
    other = build(tmp, "c", counter="2", table="5, 6, 7, 8", bss="8")
    return a, same, other


def test_definitions_read_binding_type_and_size(libs: tuple[str, str, str]) -> None:
    a, _same, other = libs
    defs = wm_symbols.definitions(a)
    assert defs["_ZZ7countervE1c"][:2] == ("unique", 1) and defs["_ZZ7countervE1c"][3] == 4
    assert defs["wm_table"][:2] == ("global", 1) and defs["wm_table"][3] == 16
    assert defs["wm_use"][1] == 2
    assert wm_symbols.definitions(other)["wm_bss"][3] == 32
    # the older reader is the same table without addresses and sizes
    assert wm_symbols.dynsyms(a)["wm_table"] == ("global", 1)


def contents_of(path: str, name: str) -> str | None:
    return wm_symbols.contents(path, wm_symbols.definitions(path)[name], wm_symbols.relocated(path))


def test_contents_compare_data_and_refuse_what_the_loader_rewrites(libs: tuple[str, str, str]) -> None:
    a, same, other = libs
    assert contents_of(a, "wm_table") == contents_of(same, "wm_table") != contents_of(other, "wm_table")
    assert contents_of(a, "_ZZ7countervE1c") != contents_of(other, "_ZZ7countervE1c")
    assert contents_of(a, "wm_bss") == contents_of(same, "wm_bss")  # .bss reads as zeros
    assert contents_of(a, "wm_name") is None  # a relocated pointer: its file bytes are not what runs
    assert contents_of(a, "wm_use") is None  # code is not compared: it moves with the layout


def test_describe_records_what_each_binding_got_and_meant(libs: tuple[str, str, str], tmp_path: Path) -> None:
    a, _same, other = libs
    # the wanting object's own folder holds a byte-identical copy of the library it was bound to
    own = tmp_path / Path(other).name
    own.write_bytes(Path(other).read_bytes())
    wanter = tmp_path / "libuser.so"
    wanter.write_bytes(Path(a).read_bytes())
    found = [
        {
            "symbol": "_ZZ7countervE1c",
            "files": [str(wanter), other],
            "cxx_runtime": False,
            "crossed": [{"wanted_by": str(wanter), "bound_to": other}],
        }
    ]
    wm_symbols.describe(found)
    pair = found[0]["crossed"][0]
    assert [d["bind"] for d in found[0]["defs"]] == ["unique", "unique"]
    assert pair["mine"]["file"] == str(wanter) and pair["theirs"]["file"] == other
    assert pair["mine"]["contents"] != pair["theirs"]["contents"]
    assert pair["own_copy"] == str(own) and pair["identical"] is True
