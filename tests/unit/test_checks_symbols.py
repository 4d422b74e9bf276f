"""Reading the symbol probe's records (wheelmatrix/cell/checks/symbols.py) into checks, no container."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from wheelmatrix.cell.checks.symbols import SymbolCheck, interpret_smoke, native_summary, short
from wheelmatrix.model import Status

SITE = "/venv/lib/python3.11/site-packages"
SITES = [SITE + "/", "/usr/lib/python3/dist-packages"]
UV = "/root/.cache/uv/archive-v0/Xy3kQz9_a1b2c3"


def files_record(**files: Mapping[str, Any]) -> dict[str, Any]:
    return {"files": files}


def so(
    project: str, needed: Mapping[str, str | None] | None = None, unresolved: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    return {"project": project, "needed": needed, "unresolved": list(unresolved)}


def loaded(
    dsos: Sequence[str] = (),
    runtimes: Mapping[str, list[str]] | None = None,
    collisions: Sequence[Mapping[str, Any]] = (),
    partial: bool = False,
) -> dict[str, Any]:
    return {
        "loaded": list(dsos),
        "partial": partial,
        "runtimes": runtimes or {},
        "collisions": list(collisions),
    }


def by_check(checks: Sequence[SymbolCheck]) -> dict[str, SymbolCheck]:
    out = {c.check: c for c in checks}
    assert len(out) == len(checks), [c.check for c in checks]
    return out


def smoke(projects: Sequence[str], *records: Mapping[str, Any]) -> dict[str, SymbolCheck]:
    return by_check(interpret_smoke(projects, records, SITES))


# --------------------------------------------------------------------------- short


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{SITE}/wmcolla/_a.abi3.so", "wmcolla/_a.abi3.so"),
        ("/usr/lib/python3/dist-packages/numpy.libs/libopenblas.so", "numpy.libs/libopenblas.so"),
        (f"{UV}/wmcolla/_a.abi3.so", "wmcolla/_a.abi3.so"),
        ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"),
        (SITE + "-other/x.so", SITE + "-other/x.so"),  # a prefix that is not the directory
    ],
)
def test_short(path: str, expected: str) -> None:
    assert short(path, SITES) == expected


# --------------------------------------------------------------------------- libraries


def test_missing_library_from_site_packages() -> None:
    records = [
        files_record(
            **{
                f"{SITE}/wmmissing/_native.abi3.so": so(
                    "wmmissing", {"libwmabsent.so.1": None, "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}
                )
            }
        ),
        loaded([f"{SITE}/wmmissing/_native.abi3.so"]),
    ]
    checks = smoke(["wmmissing"], *records)

    libs = checks["libraries of wmmissing"]
    assert libs.status is Status.FAILED
    assert libs.detail == "wmmissing/_native.abi3.so: libwmabsent.so.1 not found"
    assert libs.evidence["resolved"] == {
        "wmmissing/_native.abi3.so": {
            "libwmabsent.so.1": None,
            "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6",
        }
    }
    assert checks["eager binding of wmmissing"].status is Status.PASSED


def test_missing_library_from_the_uv_cache() -> None:
    records = [
        files_record(**{f"{UV}/wmmissing/_native.abi3.so": so("wmmissing", {"libwmabsent.so.1": None})})
    ]
    libs = smoke(["wmmissing"], *records)["libraries of wmmissing"]
    assert libs.status is Status.FAILED
    assert libs.detail == "wmmissing/_native.abi3.so: libwmabsent.so.1 not found"


def test_all_libraries_found() -> None:
    records = [files_record(**{f"{SITE}/wmpure/_x.so": so("wmpure", {"libc.so.6": "/lib/libc.so.6"})})]
    libs = smoke(["wmpure"], *records)["libraries of wmpure"]
    assert (libs.status, libs.detail) == (Status.PASSED, "")


def test_projects_without_files_get_no_library_checks() -> None:
    records = [files_record(**{f"{SITE}/wma/_a.so": so("wma", {})}), loaded()]
    checks = smoke(["wma", "wmpure"], *records)
    assert "libraries of wma" in checks
    assert "libraries of wmpure" not in checks and "eager binding of wmpure" not in checks


def test_no_files_record_is_an_error() -> None:
    (check,) = interpret_smoke(["wmx"], [], SITES)
    assert check.status is Status.ERROR
    assert check.detail == "the symbol probe gave no result"


# --------------------------------------------------------------------------- eager binding


def test_unresolved_version_and_symbol() -> None:
    path = f"{SITE}/wmcxxnew/_native.abi3.so"
    problems = [
        {"version": "GLIBCXX_3.4.29", "file": path, "line": "version `GLIBCXX_3.4.29' not found"},
        {"version": "GLIBCXX_3.4.29", "file": path, "line": "the same again"},
        {"symbol": "wm_missing_fn", "file": path},
    ]
    records = [
        files_record(**{path: so("wmcxxnew", {"libstdc++.so.6": "/usr/lib/libstdc++.so.6"}, problems)})
    ]

    binding = smoke(["wmcxxnew"], *records)["eager binding of wmcxxnew"]

    assert binding.status is Status.FAILED
    assert binding.detail == (
        "wmcxxnew/_native.abi3.so: version GLIBCXX_3.4.29 not found; "
        "wmcxxnew/_native.abi3.so: undefined symbol wm_missing_fn"
    )
    assert binding.evidence["unresolved"] == problems


# --------------------------------------------------------------------------- loaded DSOs


def test_duplicate_runtimes_pass_with_a_diagnosis() -> None:
    copies = [
        f"{SITE}/wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30",
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
    ]
    records = [files_record(), loaded(copies, runtimes={"libstdc++": copies})]

    dup = smoke([], *records)["duplicate runtimes"]

    assert dup.status is Status.PASSED
    expected = (
        "2 copies of libstdc++: wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30, "
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"
    )
    assert dup.diagnosis == dup.detail == expected
    assert dup.evidence["loaded"][0] == "wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30"
    assert dup.evidence["runtimes"] == {"libstdc++": copies}


def test_no_duplicate_runtimes_no_diagnosis() -> None:
    dup = smoke([], files_record(), loaded(["/lib/libc.so.6"]))["duplicate runtimes"]
    assert (dup.status, dup.detail, dup.diagnosis) == (Status.PASSED, "", "")


def test_collisions_fail_when_a_binding_crossed_wheels() -> None:
    collision = {
        "symbol": "wm_shared_state",
        "files": [f"{SITE}/wmcolla/_a.abi3.so", f"{UV}/wmcollb/_b.abi3.so"],
        "cxx_runtime": False,
        "crossed": [{"wanted_by": f"{UV}/wmcollb/_b.abi3.so", "bound_to": f"{SITE}/wmcolla/_a.abi3.so"}],
    }
    checks = smoke([], files_record(), loaded(collisions=[collision]))

    col = checks["symbol collisions"]
    assert col.status is Status.FAILED
    assert col.detail == "`wm_shared_state` defined by wmcolla/_a.abi3.so and wmcollb/_b.abi3.so"
    assert col.diagnosis == (
        "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so: "
        "one wheel's code runs another wheel's copy"
    )
    assert col.evidence["collisions"][0]["symbol"] == "wm_shared_state"


def test_private_copies_are_information_not_failure() -> None:
    """opencv-python-headless + numpy: both bundle OpenBLAS/gfortran (`__xerbla`,
    `_gfortran_abort`), each loaded RTLD_LOCAL; no binding crosses: no false alarm."""
    collisions = [
        {
            "symbol": name,
            "files": [
                f"{SITE}/numpy.libs/libscipy_openblas64_-ff651d7f.so",
                f"{SITE}/opencv.libs/libopenblas.so",
            ],
            "cxx_runtime": False,
            "crossed": [],
        }
        for name in ("__xerbla", "_gfortran_abort")
    ]
    col = smoke([], files_record(), loaded(collisions=collisions))["symbol collisions"]
    assert col.status is Status.PASSED
    assert "__xerbla" in col.detail and "no binding crossed" in col.diagnosis


def test_no_collisions_pass() -> None:
    col = smoke([], files_record(), loaded(["/lib/libc.so.6"]))["symbol collisions"]
    assert (col.status, col.detail, col.diagnosis) == (Status.PASSED, "", "")


def test_cxx_runtime_collision_explains_call_once() -> None:
    cxx = {
        "symbol": "__once_proxy",
        "files": [f"{SITE}/wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30", "/usr/lib/libstdc++.so.6"],
        "cxx_runtime": True,
    }
    plain = {"symbol": "wm_other", "files": [f"{SITE}/a/x.so", f"{SITE}/b/y.so"], "cxx_runtime": False}
    col = smoke([], files_record(), loaded(collisions=[plain, cxx]))["symbol collisions"]

    assert col.status is Status.FAILED
    assert "std::call_once" in col.diagnosis
    assert "`__once_proxy`" in col.diagnosis
    # C++ runtime collisions are shown first
    assert col.detail.startswith(
        "`__once_proxy` defined by wmvendored.libs/libstdc++-wm0a1b2c.so.6.0.30 and "
    )
    assert "`wm_other` defined by a/x.so and b/y.so" in col.detail


def test_many_collisions_are_summarised() -> None:
    many = [
        {"symbol": f"wm_sym{i}", "files": [f"{SITE}/a/x.so", f"{SITE}/b/y.so"], "cxx_runtime": False}
        for i in range(7)
    ]
    col = smoke([], files_record(), loaded(collisions=many))["symbol collisions"]
    assert col.detail.count("defined by") == 5
    assert col.detail.endswith(" (+2 more)")
    assert len(col.evidence["collisions"]) == 7


@pytest.mark.skipif(shutil.which("c++filt") is None, reason="c++filt missing")
def test_mangled_names_are_made_readable() -> None:
    cxx = {
        "symbol": "_ZSt9terminatev",
        "files": [f"{SITE}/a.libs/libstdc++-x.so.6", "/usr/lib/libstdc++.so.6"],
        "cxx_runtime": True,
    }
    col = smoke([], files_record(), loaded(collisions=[cxx]))["symbol collisions"]
    assert "`std::terminate()` (_ZSt9terminatev)" in col.detail
    assert col.evidence["collisions"][0]["readable"] == "std::terminate()"


def test_nothing_loaded_fails_with_the_reason() -> None:
    records = [files_record(), {"loaded": None, "why": "import failed (rc 1): ['ImportError: boom']"}]
    checks = smoke([], *records)
    dsos = checks["loaded DSOs"]
    assert dsos.status is Status.FAILED
    assert (
        dsos.detail == "could not import the set to inspect it: import failed (rc 1): ['ImportError: boom']"
    )
    assert "symbol collisions" not in checks and "duplicate runtimes" not in checks


def test_no_loaded_record_fails() -> None:
    dsos = smoke([], files_record())["loaded DSOs"]
    assert dsos.status is Status.FAILED
    assert dsos.detail == "could not import the set to inspect it: no result"


def test_partial_load_passes_with_a_note() -> None:
    records = [
        files_record(),
        loaded([f"{SITE}/wmcolla/_a.abi3.so", f"{SITE}/wmcollb/_b.abi3.so"], partial=True),
    ]
    checks = smoke([], *records)
    dsos = checks["loaded DSOs"]
    assert dsos.status is Status.PASSED
    assert "does not import together in either order" in dsos.detail
    assert dsos.evidence["loaded"] == ["wmcolla/_a.abi3.so", "wmcollb/_b.abi3.so"]
    assert "symbol collisions" in checks and "duplicate runtimes" in checks


def test_full_load_has_no_loaded_dsos_check() -> None:
    checks = smoke([], files_record(), loaded([f"{SITE}/wmcolla/_a.abi3.so"]))
    assert "loaded DSOs" not in checks


# --------------------------------------------------------------------------- native_summary


def test_native_summary_fault_bindings_and_gdb() -> None:
    native = {
        "fault": {
            "signal": "SIGSEGV",
            "fault_address": "0x0",
            "pc": {
                "address": "0x7f00001139",
                "dso": f"{SITE}/wmcollb/_b.abi3.so",
                "offset": "0x1139",
                "symbol": "PyInit__b",
                "symbol_offset": "0x9",
            },
        },
        "bindings": [
            {
                "symbol": "wm_shared_state",
                "wanted_by": f"{SITE}/wmcollb/_b.abi3.so",
                "bound_to": f"{UV}/wmcolla/_a.abi3.so",
            }
        ],
        "gdb_backtrace": [
            "#0  0x00007f00001139 in PyInit__b () from /venv/x/_b.abi3.so",
            "#1  0x0000000052a1b0 in _PyImport_LoadDynamicModuleWithSpec (spec=0x7f) at importdl.c:169",
        ],
    }
    assert native_summary(native, SITES) == (
        "SIGSEGV at PyInit__b+0x9 in wmcollb/_b.abi3.so (fault address 0x0); "
        "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so; "
        "gdb: PyInit__b <- _PyImport_LoadDynamicModuleWithSpec"
    )


def test_native_summary_without_a_symbol_uses_the_offset() -> None:
    native = {
        "fault": {
            "signal": "SIGBUS",
            "fault_address": "0x10",
            "pc": {"dso": "/usr/lib/libfoo.so", "offset": "0x42", "symbol": None, "symbol_offset": None},
        }
    }
    assert native_summary(native, SITES) == "SIGBUS at offset 0x42 in /usr/lib/libfoo.so (fault address 0x10)"


def test_native_summary_of_nothing_is_empty() -> None:
    assert native_summary({}, SITES) == ""
    assert native_summary({"fault": {"pc": {"address": "0x0"}}, "bindings": []}, SITES) == ""


# --------------------------------------------------------------------------- shared library copies

LIB = "libz-0123abcd.so.1"


def test_a_wheel_running_another_wheels_copy_fails_naming_both() -> None:
    shared = [
        {
            "name": LIB,
            "loaded": [["wma", f"wma.libs/{LIB}"]],
            "not_loaded": [["wmb", f"wmb.libs/{LIB}"]],
            "users": [{"file": "wmb/_ext.abi3.so", "expected": ["wmb", f"wmb.libs/{LIB}"]}],
        }
    ]
    check = smoke([], files_record(), dict(loaded(), shared_copies=shared))["shared library copies"]
    assert check.status is Status.FAILED
    assert check.detail == (
        f"wmb/_ext.abi3.so needs {LIB} and runs against wma's copy (wma.libs/{LIB}), "
        f"not its own (wmb.libs/{LIB})"
    )
    assert "wma and wmb both bundle" in check.diagnosis and "import order" in check.diagnosis
    assert check.evidence["shared_copies"] == shared


def test_same_named_copies_nobody_crossed_are_information() -> None:
    shared = [{"name": LIB, "loaded": [["wma", f"wma.libs/{LIB}"]], "not_loaded": [["wmb", "x"]]}]
    shared[0]["users"] = []
    check = smoke([], files_record(), dict(loaded(), shared_copies=shared))["shared library copies"]
    assert check.status is Status.PASSED
    assert check.detail == f"{LIB}: only wma (wma.libs/{LIB}) loaded"


def test_no_shared_copies_record_means_no_check() -> None:
    # an older probe (or a run with nothing same-named) has no record: no check at all
    assert "shared library copies" not in smoke([], files_record(), loaded())


# --------------------------------------------------------------------------- crossed bindings judged


def defn(
    path: str, bind: str = "global", kind: str = "object", size: int = 16, digest: str | None = None
) -> Any:
    return {"file": path, "bind": bind, "type": kind, "size": size, "contents": digest}


def crossed(symbol: str, mine: Any, theirs: Any, **pair: Any) -> dict[str, Any]:
    """A collision whose one binding went from `mine`'s file to `theirs`'s (the probe's record)."""
    return {
        "symbol": symbol,
        "files": [mine["file"], theirs["file"]],
        "cxx_runtime": False,
        "defs": [mine, theirs],
        "crossed": [
            {"wanted_by": mine["file"], "bound_to": theirs["file"], "mine": mine, "theirs": theirs, **pair}
        ],
    }


def collisions_check(*cols: Mapping[str, Any], imported: Sequence[bool] = (True, True)) -> SymbolCheck:
    rec = dict(loaded(collisions=cols), orders_imported=list(imported), bindings_checked=True)
    return smoke([], files_record(), rec)["symbol collisions"]


PYARROW = f"{SITE}/pyarrow/libarrow_acero.so.1900"
NUMPY = f"{SITE}/numpy/fft/_pocketfft_umath.cpython-311-x86_64-linux-gnu.so"
TAG = "_ZZNSt19_Sp_make_shared_tag5_S_tiEvE5__tag"


def test_unique_inline_static_bound_across_wheels_is_benign_and_counted() -> None:
    """scikit-learn 1.6.1 + pyarrow 19.0.1 + numpy 2.4: `_S_ti()::__tag` is STB_GNU_UNIQUE in
    both; glibc keeps one per process whatever the scopes, by design."""
    col = collisions_check(
        crossed(TAG, defn(PYARROW, "unique", digest="ab"), defn(NUMPY, "unique", digest="ab"))
    )
    assert col.status is Status.PASSED, col
    assert col.evidence["bindings"] == {
        "benign": {"STB_GNU_UNIQUE (one definition per process by design)": 1},
        "failing": {},
    }
    assert col.diagnosis.startswith(
        "information: 1 binding crossed between wheels, none can break: 1 STB_GNU"
    )
    assert col.evidence["collisions"][0]["crossed"][0]["benign"] is True


def test_weak_typeinfo_is_vague_linkage() -> None:
    col = collisions_check(
        crossed("_ZTIN5arrow6StatusE", defn(PYARROW, "weak", size=24), defn(NUMPY, "weak", size=24))
    )
    assert col.status is Status.PASSED, col
    assert col.evidence["bindings"]["benign"] == {"C++ vague linkage (typeinfo)": 1}


def test_strong_typeinfo_is_not_vague_linkage() -> None:
    """A class with a key function has one strong typeinfo; two wheels defining it strongly are
    two copies of a library, not vague linkage."""
    col = collisions_check(crossed("_ZTIN5arrow6StatusE", defn(PYARROW, size=24), defn(NUMPY, size=24)))
    assert col.status is Status.FAILED
    assert col.evidence["bindings"]["failing"] == {"interposed": 1}


def test_unique_objects_of_different_sizes_fail_naming_the_sizes() -> None:
    col = collisions_check(crossed(TAG, defn(PYARROW, "unique", size=16), defn(NUMPY, "unique", size=24)))
    assert col.status is Status.FAILED
    assert col.diagnosis.endswith(
        "was bound to numpy/fft/_pocketfft_umath.cpython-311-x86_64-linux-gnu.so: two different definitions "
        "(16 and 24 bytes), so one wheel's code runs another wheel's copy"
    ), col.diagnosis
    assert col.evidence["bindings"]["failing"] == {"definitions differ in size": 1}


def test_weak_objects_with_other_contents_fail() -> None:
    col = collisions_check(
        crossed("_ZN5arrow7kLimitsE", defn(PYARROW, "weak", digest="aa"), defn(NUMPY, "weak", digest="bb"))
    )
    assert col.status is Status.FAILED
    assert "16 bytes each, other contents" in col.diagnosis


def test_unreadable_contents_do_not_count_as_different() -> None:
    col = collisions_check(
        crossed("_ZTVN5arrow6BufferE", defn(PYARROW, "weak", digest="aa"), defn(NUMPY, "weak", digest=None))
    )
    assert col.status is Status.PASSED, col


@pytest.mark.parametrize(
    ("symbol", "what"),
    [
        ("_ZSt15__once_callable", "std::call_once's state"),
        ("_ZNSt7collateIcE2idE", "std::locale's facet ids"),
        ("__cxa_get_globals", "exception-handling globals"),
    ],
)
def test_stateful_runtime_symbols_fail_even_when_identical(symbol: str, what: str) -> None:
    col = collisions_check(crossed(symbol, defn(PYARROW, "unique"), defn(NUMPY, "unique"), identical=True))
    assert col.status is Status.FAILED
    assert what in col.diagnosis and "bound across copies" in col.diagnosis, col.diagnosis
    assert col.evidence["bindings"]["failing"] == {"stateful runtime symbol": 1}


def test_binding_to_an_identical_copy_of_the_library_is_benign() -> None:
    """scipy's OpenBLAS needs the libgfortran numpy ships under the same name, byte for byte:
    the loader reuses numpy's, which is the same file."""
    mine = defn(f"{SITE}/scipy.libs/libgfortran-040039e1-0352e75f.so.5.0.0", kind="func", size=142)
    theirs = defn(f"{SITE}/numpy.libs/libgfortran-040039e1-0352e75f.so.5.0.0", kind="func", size=142)
    col = crossed("_gfortran_concat_string", mine, theirs, identical=True)
    col["crossed"][0]["wanted_by"] = f"{SITE}/scipy.libs/libscipy_openblas-6cdc3b4a.so"
    got = collisions_check(col)
    assert got.status is Status.PASSED
    assert got.evidence["bindings"]["benign"] == {"identical copy of the library (reused by name)": 1}


def test_private_runtime_copies_of_the_same_sizes_are_benign_other_builds_fail() -> None:
    mine = defn(f"{SITE}/scipy.libs/libgfortran-8f1e9814.so.5.0.0", kind="func", size=142)
    same = defn(f"{SITE}/numpy.libs/libgfortran-040039e1.so.5.0.0", kind="func", size=142)
    other = defn(f"{SITE}/numpy.libs/libgfortran-040039e1.so.5.0.0", kind="func", size=158)
    assert collisions_check(crossed("_gfortran_etime", mine, same)).status is Status.PASSED
    assert collisions_check(crossed("_gfortran_etime", mine, other)).status is Status.FAILED


def test_a_crossing_while_an_import_order_fails_is_not_judged_benign() -> None:
    col = collisions_check(
        crossed(TAG, defn(PYARROW, "unique"), defn(NUMPY, "unique")), imported=(False, True)
    )
    assert col.status is Status.FAILED
    assert col.evidence["bindings"]["failing"] == {"an import order failed": 1}
