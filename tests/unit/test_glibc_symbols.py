"""wheelmatrix.scan.glibc_symbols against the shipped table (wheelmatrix/data/glibc-symbols.json)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from wheelmatrix.resources import data_path
from wheelmatrix.scan import glibc_symbols as gs

ARCHES = ("x86_64", "aarch64")


def _doc() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(data_path(gs.DATA_FILE).read_text())
    return loaded


@pytest.mark.parametrize("arch", ARCHES)
def test_c23_strtol_family_is_2_38_in_libc(arch: str) -> None:
    for name in ("__isoc23_strtol", "__isoc23_strtoul", "__isoc23_sscanf"):
        assert gs.first_version(name, arch) == (2, 38)
        assert gs.library_of(name, arch) == "libc.so.6"


@pytest.mark.parametrize("arch", ARCHES)
def test_known_releases(arch: str) -> None:
    assert gs.first_version("arc4random", arch) == (2, 36)
    assert gs.first_version("_Fork", arch) == (2, 34)
    assert gs.first_version("sinpi", arch) == (2, 41)
    assert gs.library_of("sinpi", arch) == "libm.so.6"


def test_moved_libpthread_symbols_are_named_in_libc() -> None:
    # moved into libc in 2.34, which also exports them at their original version
    assert gs.first_version("pthread_clockjoin_np", "x86_64") == (2, 31)
    assert gs.library_of("pthread_clockjoin_np", "x86_64") == "libc.so.6"


@pytest.mark.parametrize("arch", ARCHES)
def test_old_and_unknown_names_are_none(arch: str) -> None:
    for name in ("memcpy", "printf", "strtol", "definitely_not_a_glibc_symbol_42"):
        assert gs.first_version(name, arch) is None
        assert gs.library_of(name, arch) is None
    assert gs.too_new(["memcpy", "printf", "definitely_not_a_glibc_symbol_42"], arch, (2, 17)) == []


def test_arches_differ_where_the_lists_do() -> None:
    # _Float128 came to x86_64 in 2.26, to aarch64 (as long double aliases) in 2.27
    assert gs.first_version("floorf128", "x86_64") == (2, 26)
    assert gs.first_version("floorf128", "aarch64") == (2, 27)
    # getauxval (2.16) predates the aarch64 port: at its 2.17 baseline, so not listed there
    assert gs.first_version("getauxval", "x86_64") == (2, 16)
    assert gs.first_version("getauxval", "aarch64") is None
    # arch-specific names: libmvec's x86 SSE variants vs AdvSIMD ones, x86 CPU features
    assert gs.first_version("_ZGVbN2v_cos", "x86_64") == (2, 22)
    assert gs.library_of("_ZGVbN2v_cos", "x86_64") == "libmvec.so.1"
    assert gs.first_version("_ZGVbN2v_cos", "aarch64") is None
    assert gs.first_version("_ZGVnN2v_cos", "aarch64") == (2, 38)
    assert gs.first_version("_ZGVnN2v_cos", "x86_64") is None
    assert gs.first_version("__x86_get_cpuid_feature_leaf", "x86_64") == (2, 33)
    assert gs.first_version("__x86_get_cpuid_feature_leaf", "aarch64") is None


def test_arch_aliases_and_fallback_for_other_arches() -> None:
    assert gs.first_version("floorf128", "amd64") == (2, 26)
    assert gs.first_version("floorf128", "arm64") == (2, 27)
    # other arches use the arch-independent first release (lowest over every Linux port)
    assert gs.first_version("__isoc23_strtol", "ppc64le") == (2, 38)
    assert gs.first_version("floorf128", "ppc64le") == (2, 26)
    assert gs.library_of("__isoc23_strtol", "riscv64") == "libc.so.6"


def test_too_new_orders_by_version_desc_then_name() -> None:
    names = ["memcpy", "arc4random", "__isoc23_strtol", "sinpi", "__isoc23_strtoll", "_Fork", "nope_xyz"]
    assert gs.too_new(names, "x86_64", (2, 34)) == [
        ("sinpi", (2, 41), "libm.so.6"),
        ("__isoc23_strtol", (2, 38), "libc.so.6"),
        ("__isoc23_strtoll", (2, 38), "libc.so.6"),
        ("arc4random", (2, 36), "libc.so.6"),
    ]
    assert gs.too_new(names, "aarch64", (2, 41)) == []
    assert gs.too_new(iter(["arc4random", "arc4random"]), "aarch64", (2, 35)) == [
        ("arc4random", (2, 36), "libc.so.6")
    ]


@pytest.mark.parametrize("arch", ARCHES)
def test_explain_undefined_message_forms(arch: str) -> None:
    expected = "__isoc23_strtol first appeared in glibc 2.38 (libc.so.6); this cell has 2.36"
    plain = "ImportError: /venv/lib/python3.11/site-packages/pkg/_x.so: undefined symbol: __isoc23_strtol"
    versioned = (
        "/usr/bin/python3: relocation error: /pkg/_x.so: symbol __isoc23_strtol version GLIBC_2.38 "
        "not defined in file libc.so.6 with link time reference"
    )
    with_version = "/pkg/_x.so: undefined symbol: __isoc23_strtol, version GLIBC_2.38"
    for message in (plain, versioned, with_version):
        assert gs.explain_undefined(message, arch, (2, 36)) == expected


def test_explain_undefined_none_when_not_newer_or_unknown() -> None:
    msg = "/pkg/_x.so: undefined symbol: __isoc23_strtol"
    assert gs.explain_undefined(msg, "x86_64", (2, 38)) is None
    assert gs.explain_undefined(msg, "x86_64", (2, 41)) is None
    assert gs.explain_undefined("/pkg/_x.so: undefined symbol: memcpy", "x86_64", (2, 17)) is None
    assert gs.explain_undefined("/pkg/_x.so: undefined symbol: _ZN3foo3barEv", "x86_64", (2, 17)) is None
    assert (
        gs.explain_undefined("version `GLIBC_2.38' not found (required by _x.so)", "x86_64", (2, 36)) is None
    )
    assert gs.explain_undefined("no symbol here", "aarch64", (2, 17)) is None
    assert (
        gs.explain_undefined("/pkg/_x.so: undefined symbol: arc4random", "aarch64", (2, 31))
        == "arc4random first appeared in glibc 2.36 (libc.so.6); this cell has 2.31"
    )


def test_provenance_comment_names_the_glibc_source() -> None:
    doc = _doc()
    assert doc["glibc"] == gs.data_glibc()
    version = tuple(int(x) for x in gs.data_glibc().split("."))
    assert version >= (2, 41)
    comment = doc["_comment"]
    assert isinstance(comment, str)
    assert f"glibc {gs.data_glibc()}" in comment
    assert "abilist" in comment and "scripts/update-glibc-symbols.py" in comment
    assert "http" not in json.dumps(doc)  # no mirror or host names


def test_table_shape_and_baselines() -> None:
    doc = _doc()
    symbols = doc["symbols"]
    assert isinstance(symbols, dict) and set(symbols) == set(ARCHES)
    floors = {"x86_64": (2, 2, 5), "aarch64": (2, 17)}
    for arch, table in symbols.items():
        assert len(table) > 1000
        for name, (version, lib) in table.items():
            assert tuple(int(x) for x in version.split(".")) > floors[arch], (arch, name)
            assert lib.startswith(("lib", "ld-linux")) and ".so" in lib
    assert data_path(gs.DATA_FILE).stat().st_size < 1_000_000


def test_data_ships_as_package_data() -> None:
    ref = resources.files("wheelmatrix") / "data" / gs.DATA_FILE
    assert ref.is_file()
    assert json.loads(ref.read_text())["glibc"] == gs.data_glibc()


def test_no_glibc_name_is_a_python_c_api_name() -> None:
    """Lookups answer `Py*`/`_Py*` names without loading the table: that holds only while glibc
    exports none (regenerate the table, and this says whether it still does)."""
    from wheelmatrix.scan import glibc_symbols

    table = glibc_symbols._table()
    names = set(table.first_release).union(*table.per_arch.values())
    assert len(names) > 2000
    assert not [n for n in names if n.startswith(glibc_symbols.PYTHON_PREFIXES)]


def test_python_names_are_answered_without_reading_the_table() -> None:
    from wheelmatrix.scan import glibc_symbols

    glibc_symbols._table.cache_clear()
    glibc_symbols.known_names.cache_clear()
    glibc_symbols._known.cache_clear()
    assert glibc_symbols.known_among([b"PyInit_demo", b"_PyObject_Free"]) == set()
    assert glibc_symbols.first_version("PyModuleDef_Init", "x86_64") is None
    assert not glibc_symbols.is_known("PyInit_demo")
    assert glibc_symbols._table.cache_info().currsize == 0
    assert glibc_symbols.known_among([b"PyInit_demo", b"__isoc23_strtol"]) == {b"__isoc23_strtol"}
