"""Platform-tag policy (wheelmatrix/scan/policy.py + wheelmatrix/data/policy.json) on real fixture wheels."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.fixtures.selection import BUILT_ARCHES, wheel_for
from tests.fixtures.wheels import Fixture, write_wheel
from wheelmatrix.scan.policy import (
    BOUNDED,
    Finding,
    cell_gaps,
    judge_wheel,
    parse_platform,
    policies,
    system_requirements,
)

VENDORED_LIB = "libstdc++-wm0a1b2c.so.6.0.30"
CEILING_2_17 = {"x86_64": "2.17", "aarch64": "2.18"}  # GLIBC ceiling of manylinux_2_17 per arch


def contents(wheel: Path) -> dict[str, bytes]:
    """A wheel's files without its .dist-info (to write it again under another tag)."""
    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(n) for n in zf.namelist() if ".dist-info/" not in n}


def retag(wheel: Path, dest: Path, project: str, tag: str, files: dict[str, bytes] | None = None) -> Path:
    return write_wheel(dest, project, "1.0", tag, files or contents(wheel), purelib=False)


def kinds(findings: tuple[Finding, ...] | list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


# --------------------------------------------------------------------------- parse_platform


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("manylinux_2_17_x86_64", ("manylinux", (2, 17), "x86_64")),
        ("manylinux_2_28_aarch64", ("manylinux", (2, 28), "aarch64")),
        ("manylinux2014_aarch64", ("manylinux", (2, 17), "aarch64")),
        ("manylinux2010_x86_64", ("manylinux", (2, 12), "x86_64")),
        ("manylinux1_x86_64", ("manylinux", (2, 5), "x86_64")),
        ("musllinux_1_2_x86_64", ("musllinux", (1, 2), "x86_64")),
        ("linux_x86_64", None),
        ("win_amd64", None),
        ("any", None),
        ("macosx_11_0_arm64", None),
    ],
)
def test_parse_platform(tag: str, expected: object) -> None:
    assert parse_platform(tag) == expected


def test_policies_load_with_aliases_resolved_by_parse_platform() -> None:
    table = policies()
    assert {"manylinux_2_5", "manylinux_2_12", "manylinux_2_17", "manylinux_2_28", "musllinux_1_2"} <= set(
        table
    )
    p = table["manylinux_2_17"]
    assert p.family == "manylinux" and p.version == (2, 17)
    assert p.ceilings["x86_64"]["GLIBC"] == "2.17"
    assert p.ceilings["aarch64"]["GLIBC"] == "2.18"
    assert "libc.so.6" in p.libs and "libstdc++.so.6" in p.libs
    assert "libwmabsent.so.1" not in p.libs
    assert table["musllinux_1_2"].family == "musllinux"


# --------------------------------------------------------------------------- over-claimed


def test_newglibc_is_over_claimed(fixtures: dict[str, Fixture], arch: str) -> None:
    tag = f"manylinux_2_17_{arch}"
    scan = judge_wheel(wheel_for(fixtures["newglibc"], arch), [tag])

    (finding,) = kinds(scan.findings, "over-claimed")
    assert finding.version == "GLIBC_2.36"
    assert finding.symbol == "arc4random"
    assert finding.file == "wmnewglibc/_native.abi3.so"
    assert finding.library == "libc.so.6"
    assert finding.tag == tag
    assert "GLIBC_2.36" in finding.message and "arc4random" in finding.message
    assert f"at most GLIBC_{CEILING_2_17[arch]}" in finding.message
    assert scan.wheel == wheel_for(fixtures["newglibc"], arch).name
    assert kinds(scan.findings, "under-claimed") == []
    assert kinds(scan.findings, "unshipped-library") == []
    assert scan.to_json()["findings"][0]["version"] == "GLIBC_2.36"  # type: ignore[index]


def test_unversioned_reference_to_a_new_libc_symbol_is_over_claimed(
    fixtures: dict[str, Fixture], arch: str
) -> None:
    """The symbol-version check alone sees nothing (no version requirement at all); the
    glibc symbol data says arc4random first appeared in 2.36."""
    wheel = wheel_for(fixtures["unversioned"], arch)
    scan = judge_wheel(wheel, [f"manylinux_2_17_{arch}"])
    (so,) = scan.files
    assert not [r for r in so.requirements if r.namespace == "GLIBC"]
    assert "arc4random" in so.unversioned
    (finding,) = kinds(scan.findings, "over-claimed")
    assert (finding.version, finding.symbol, finding.library) == ("GLIBC_2.36", "arc4random", "libc.so.6")
    assert "referenced without a symbol version" in finding.message
    gaps = cell_gaps(scan, {"GLIBC": "2.31"}, "debian-11")
    assert [g.version for g in gaps] == ["GLIBC_2.36"] and "debian-11 has GLIBC_2.31" in gaps[0].message
    assert cell_gaps(scan, {"GLIBC": "2.36"}, "debian-12") == []


def test_executable_stack_is_found_and_predicted_from_glibc_2_41(
    fixtures: dict[str, Fixture], arch: str
) -> None:
    scan = judge_wheel(wheel_for(fixtures["execstack"], arch), [f"manylinux_2_17_{arch}"])
    (so,) = scan.files
    assert so.execstack
    (finding,) = kinds(scan.findings, "execstack")
    assert finding.file == "wmexecstack/_native.abi3.so" and "noexecstack" in finding.message
    assert [g.kind for g in cell_gaps(scan, {"GLIBC": "2.41"}, "debian-13")] == ["cell-execstack"]
    assert cell_gaps(scan, {"GLIBC": "2.36"}, "debian-12") == []
    plain = judge_wheel(wheel_for(fixtures["newglibc"], arch), [f"manylinux_2_17_{arch}"])
    assert not plain.files[0].execstack and not kinds(plain.findings, "execstack")


def test_newglibc_fits_a_tag_that_allows_glibc_2_36(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    src = wheel_for(fixtures["newglibc"], "x86_64")
    wheel = retag(src, tmp_path, "wmnewglibc", "cp39-abi3-manylinux_2_36_x86_64")
    scan = judge_wheel(wheel, ["manylinux_2_36_x86_64"])
    assert scan.findings == ()


def test_cxxnew_over_claims_glibcxx_and_cxxabi(fixtures: dict[str, Fixture], arch: str) -> None:
    scan = judge_wheel(wheel_for(fixtures["cxxnew"], arch), [f"manylinux_2_17_{arch}"])
    over = {f.version: f for f in kinds(scan.findings, "over-claimed")}

    assert set(over) == {"GLIBCXX_3.4.29", "CXXABI_1.3.9"}
    assert over["GLIBCXX_3.4.29"].symbol == "_ZSt28__throw_bad_array_new_lengthv"
    assert over["GLIBCXX_3.4.29"].library == "libstdc++.so.6"
    assert "at most GLIBCXX_3.4.19" in over["GLIBCXX_3.4.29"].message
    assert over["CXXABI_1.3.9"].library == "libstdc++.so.6"
    assert "at most CXXABI_1.3.7" in over["CXXABI_1.3.9"].message


def test_one_finding_per_namespace_the_worst(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    """newglibc also needs GLIBC_2.2.5 (x86_64); only the worst requirement is reported."""
    scan = judge_wheel(wheel_for(fixtures["newglibc"], "x86_64"), ["manylinux_2_12_x86_64"])
    over = kinds(scan.findings, "over-claimed")
    assert [f.version for f in over] == ["GLIBC_2.36"]


# --------------------------------------------------------------------------- unshipped libraries


def test_missinglib_names_the_unshipped_library(fixtures: dict[str, Fixture], arch: str) -> None:
    scan = judge_wheel(wheel_for(fixtures["missinglib"], arch), [f"manylinux_2_17_{arch}"])

    (finding,) = kinds(scan.findings, "unshipped-library")
    assert finding.library == "libwmabsent.so.1"
    assert finding.file == "wmmissing/_native.abi3.so"
    assert "libwmabsent.so.1" in finding.message and "manylinux_2_17" in finding.message
    assert kinds(scan.findings, "over-claimed") == []


def test_system_and_shipped_libraries_are_not_unshipped(fixtures: dict[str, Fixture], arch: str) -> None:
    for key in ("newglibc", "cxxnew", "vendored", "colla"):
        scan = judge_wheel(wheel_for(fixtures[key], arch), [f"manylinux_2_17_{arch}"])
        assert kinds(scan.findings, "unshipped-library") == [], key


# --------------------------------------------------------------------------- vendored libraries


def test_vendored_copy_requirements_are_judged(fixtures: dict[str, Fixture], arch: str) -> None:
    """The shipped libstdc++ copy really needs GLIBC_2.36: that over-claim is reported; the
    extension's GLIBCXX_/CXXABI_ needs are met by the copy the wheel ships, so they are not."""
    tag = f"manylinux_2_17_{arch}"
    scan = judge_wheel(wheel_for(fixtures["vendored"], arch), [tag])
    over = kinds(scan.findings, "over-claimed")

    assert [f.version for f in over] == ["GLIBC_2.36"]
    (finding,) = over
    assert finding.file == f"wmvendored.libs/{VENDORED_LIB}"
    assert finding.library == "libc.so.6"
    assert finding.symbol == "arc4random"
    assert finding.tag == tag

    reqs = system_requirements(scan.files)
    assert all(r.library != VENDORED_LIB for _f, r in reqs)
    assert {r.namespace for _f, r in reqs} <= set(BOUNDED)
    assert not [r for _f, r in reqs if r.namespace in ("GLIBCXX", "CXXABI")]


def test_vendored_gaps_come_from_the_copy(fixtures: dict[str, Fixture]) -> None:
    scan = judge_wheel(wheel_for(fixtures["vendored"], "x86_64"), ["manylinux_2_17_x86_64"])
    gaps = cell_gaps(scan, {"GLIBC": "2.31", "GLIBCXX": "3.4.28", "CXXABI": "1.3.12"}, "debian-11")
    assert [(g.version, g.file) for g in gaps] == [("GLIBC_2.36", f"wmvendored.libs/{VENDORED_LIB}")]


# --------------------------------------------------------------------------- under-claimed


def test_under_claimed_suggests_the_oldest_fitting_tag(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    """The vendored extension with a stand-in for its copy (no requirements) needs only
    GLIBC_2.14, GLIBC_2.2.5 and GCC_3.0 on x86_64: manylinux_2_17 would do."""
    files = contents(wheel_for(fixtures["vendored"], "x86_64"))
    files[f"wmvendored.libs/{VENDORED_LIB}"] = contents(wheel_for(fixtures["colla"], "x86_64"))[
        "wmcolla/_a.abi3.so"
    ]
    wheel = retag(Path(), tmp_path, "wmvendored", "cp39-abi3-manylinux_2_28_x86_64", files)

    scan = judge_wheel(wheel, ["manylinux_2_28_x86_64"])

    (finding,) = scan.findings
    assert finding.kind == "under-claimed"
    assert finding.tag == "manylinux_2_28_x86_64"
    assert "could be manylinux_2_17_x86_64" in finding.message
    assert "needs only GCC_3.0, GLIBC_2.14, GLIBC_2.2.5" in finding.message


def test_under_claimed_without_any_versioned_symbols(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    wheel = retag(
        wheel_for(fixtures["colla"], "x86_64"), tmp_path, "wmcolla", "cp39-abi3-manylinux_2_28_x86_64"
    )
    (finding,) = judge_wheel(wheel, ["manylinux_2_28_x86_64"]).findings
    assert finding.kind == "under-claimed"
    assert "could be manylinux_2_5_x86_64" in finding.message
    assert "needs no versioned system symbols" in finding.message


def test_no_under_claim_at_the_oldest_policy_of_the_arch(fixtures: dict[str, Fixture]) -> None:
    # aarch64 has no policy older than manylinux_2_17
    if "aarch64" not in BUILT_ARCHES:
        pytest.skip("no aarch64 toolchain")
    scan = judge_wheel(wheel_for(fixtures["colla"], "aarch64"), ["manylinux_2_17_aarch64"])
    assert scan.findings == ()


# --------------------------------------------------------------------------- musllinux


def test_glibc_requirements_in_a_musllinux_wheel(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    wheel = retag(
        wheel_for(fixtures["newglibc"], "x86_64"), tmp_path, "wmnewglibc", "cp39-abi3-musllinux_1_2_x86_64"
    )
    scan = judge_wheel(wheel, ["musllinux_1_2_x86_64"])

    musl = kinds(scan.findings, "glibc-in-musllinux")
    assert {f.version for f in musl} == {"GLIBC_2.36", "GLIBC_2.2.5"}
    worst = next(f for f in musl if f.version == "GLIBC_2.36")
    assert worst.symbol == "arc4random"
    assert worst.file == "wmnewglibc/_native.abi3.so"
    assert worst.library == "libc.so.6"
    assert worst.tag == "musllinux_1_2_x86_64"
    assert "musl" in worst.message
    # musl's loader answers for libc.so.6 itself (any libc.*): the versioned references above are
    # the evidence, not a missing library
    assert kinds(scan.findings, "unshipped-library") == []
    assert kinds(scan.findings, "over-claimed") == []
    assert kinds(scan.findings, "under-claimed") == []


def test_non_linux_tags_are_not_judged(fixtures: dict[str, Fixture]) -> None:
    scan = judge_wheel(wheel_for(fixtures["newglibc"], "x86_64"), ["linux_x86_64", "win_amd64"])
    assert scan.findings == ()
    assert [f.path for f in scan.files] == ["wmnewglibc/_native.abi3.so"]


# --------------------------------------------------------------------------- cell_gaps


def test_cell_gaps(fixtures: dict[str, Fixture]) -> None:
    scan = judge_wheel(wheel_for(fixtures["newglibc"], "x86_64"), ["manylinux_2_17_x86_64"])

    (gap,) = cell_gaps(scan, {"GLIBC": "2.31"}, "debian-11")
    assert gap.kind == "cell-lacks"
    assert (gap.version, gap.symbol, gap.library, gap.file) == (
        "GLIBC_2.36",
        "arc4random",
        "libc.so.6",
        "wmnewglibc/_native.abi3.so",
    )
    assert gap.message.endswith("debian-11 has GLIBC_2.31")
    assert cell_gaps(scan, {"GLIBC": "2.36"}, "debian-12") == []
    assert cell_gaps(scan, {"GLIBC": "2.41"}, "debian-13") == []
    assert cell_gaps(scan, {}, "alpine") == []


def test_cell_gaps_for_cxx(fixtures: dict[str, Fixture]) -> None:
    scan = judge_wheel(wheel_for(fixtures["cxxnew"], "x86_64"), ["manylinux_2_17_x86_64"])
    debian11 = {"GLIBC": "2.31", "GLIBCXX": "3.4.28", "CXXABI": "1.3.12"}
    assert [g.version for g in cell_gaps(scan, debian11, "debian-11")] == ["GLIBCXX_3.4.29"]
    debian12 = {"GLIBC": "2.36", "GLIBCXX": "3.4.30", "CXXABI": "1.3.13"}
    assert cell_gaps(scan, debian12, "debian-12") == []


# --------------------------------------------------------------------------- bugs


def test_alias_tags_give_one_over_claim(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    wheel = retag(
        wheel_for(fixtures["newglibc"], "x86_64"),
        tmp_path,
        "wmnewglibc",
        "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
    )
    scan = judge_wheel(wheel, ["manylinux_2_17_x86_64", "manylinux2014_x86_64"])
    assert len(kinds(scan.findings, "over-claimed")) == 1


def test_unpublished_manylinux_tag_allows_its_own_glibc(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    files = contents(wheel_for(fixtures["newglibc"], "x86_64"))
    so = files["wmnewglibc/_native.abi3.so"]
    assert b"GLIBC_2.36" in so
    files["wmnewglibc/_native.abi3.so"] = so.replace(b"GLIBC_2.36", b"GLIBC_2.33")  # same length
    wheel = retag(Path(), tmp_path, "wmnewglibc", "cp39-abi3-manylinux_2_33_x86_64", files)

    scan = judge_wheel(wheel, ["manylinux_2_33_x86_64"])

    newest = scan.files[0].highest("GLIBC")
    assert newest is not None and newest.label == "GLIBC_2.33" and newest.symbols == ("arc4random",)
    assert kinds(scan.findings, "over-claimed") == []


def test_musl_libc_sonames_and_unversioned_names_are_not_findings(
    fixtures: dict[str, Fixture], tmp_path: Path
) -> None:
    """A real musllinux wheel links Alpine's libc.musl-x86_64.so.1 and references libc names
    without versions (numpy's vendored libstdc++): neither is a problem on musl."""
    from wheelmatrix.scan.policy import MUSL_SELF

    assert MUSL_SELF.match("libc.musl-x86_64.so.1") and MUSL_SELF.match("libm.so.6")
    assert not MUSL_SELF.match("libcrypto.so.3") and not MUSL_SELF.match("libz.so.1")
    wheel = retag(
        wheel_for(fixtures["unversioned"], "x86_64"),
        tmp_path,
        "wmunversioned",
        "cp39-abi3-musllinux_1_2_x86_64",
    )
    scan = judge_wheel(wheel, ["musllinux_1_2_x86_64"])
    assert kinds(scan.findings, "glibc-in-musllinux") == []


def test_lowest_tag_is_the_oldest_policy_the_files_satisfy(fixtures: dict[str, Fixture], arch: str) -> None:
    """As auditwheel says it ("this constrains the platform tag to ..."): the symbol that sets
    the floor is named, GLIBCXX/CXXABI move it as GLIBC does, and aarch64 starts at 2_17."""
    from wheelmatrix.scan.policy import lowest_tags

    tag = f"manylinux_2_17_{arch}"
    (lowest,) = lowest_tags(judge_wheel(wheel_for(fixtures["newglibc"], arch), [tag]), [tag])
    assert lowest.tag == f"manylinux_2_36_{arch}" and lowest.family == "manylinux"
    assert "GLIBC_2.36" in lowest.reason and "arc4random" in lowest.reason
    assert "manylinux_2_35 allows at most GLIBC_2.35" in lowest.reason
    # a library the policy does not allow: no manylinux tag at all, and the library is named
    (unshipped,) = lowest_tags(judge_wheel(wheel_for(fixtures["missinglib"], arch), [tag]), [tag])
    assert unshipped.tag is None and "does not allow" in unshipped.reason, unshipped
