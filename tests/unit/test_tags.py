"""Tag prediction (wheelmatrix/tags.py): what each cell accepts and which wheel an installer picks."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.tags import Tag, parse_tag
from packaging.utils import canonicalize_name

from wheelmatrix.config.catalog import Libc
from wheelmatrix.inputs.wheelname import parse_tags
from wheelmatrix.inputs.wheels import WheelFile
from wheelmatrix.matrix.tags import cell_tags, pick_wheel, platform_tags

GLIBC_2_31 = Libc(family="glibc", version=(2, 31))
GLIBC_2_36 = Libc(family="glibc", version=(2, 36))
MUSL_1_2 = Libc(family="musl", version=(1, 2))


def wheel(tag: str, project: str = "demo", version: str = "1.0") -> WheelFile:
    """A WheelFile as read_wheel would return it for `<project>-<version>-<tag>.whl`."""
    return WheelFile(
        path=Path(f"/wheels/{project}-{version}-{tag}.whl"),
        project=canonicalize_name(project),
        version=version,
        triples=parse_tags(tag),
        modules=(project,),
    )


# --------------------------------------------------------------------------- platform_tags


def test_glibc_x86_64_goes_from_the_cell_glibc_down_to_manylinux1_then_linux() -> None:
    tags = platform_tags(GLIBC_2_31, "x86_64")

    assert tags[0] == "manylinux_2_31_x86_64"
    assert tags[-1] == "linux_x86_64"
    # Every manylinux_2_N from 2.31 down to 2.5, newest first.
    numbered = [t for t in tags if t.startswith("manylinux_2_")]
    assert numbered == [f"manylinux_2_{m}_x86_64" for m in range(31, 4, -1)]
    # PEP 600 legacy aliases sit right after the glibc version they alias.
    for alias, glibc in (("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)):
        position = tags.index(f"{alias}_x86_64")
        assert tags[position - 1] == f"manylinux_2_{glibc}_x86_64"
    assert len(tags) == len(set(tags)) == 27 + 3 + 1


def test_glibc_aarch64_stops_at_2_17_and_has_no_pre_2014_aliases() -> None:
    tags = platform_tags(GLIBC_2_31, "aarch64")

    assert tags[0] == "manylinux_2_31_aarch64"
    assert tags[-2:] == ["manylinux2014_aarch64", "linux_aarch64"]
    assert "manylinux_2_17_aarch64" in tags
    assert "manylinux_2_16_aarch64" not in tags
    assert not [t for t in tags if t.startswith(("manylinux2010", "manylinux1_"))]
    assert all(t.endswith("_aarch64") for t in tags)


def test_glibc_newer_than_a_wheel_still_accepts_it() -> None:
    assert "manylinux_2_28_x86_64" in platform_tags(GLIBC_2_36, "x86_64")
    assert "manylinux_2_34_x86_64" not in platform_tags(GLIBC_2_31, "x86_64")


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_musl_gets_musllinux_tags_only(arch: str) -> None:
    assert platform_tags(MUSL_1_2, arch) == [
        f"musllinux_1_2_{arch}",
        f"musllinux_1_1_{arch}",
        f"musllinux_1_0_{arch}",
        f"linux_{arch}",
    ]


# --------------------------------------------------------------------------- cell_tags


def test_cell_tags_order_is_exact_abi_then_abi3_then_pure() -> None:
    tags = cell_tags((3, 11), GLIBC_2_36, "x86_64")

    assert tags[0] == Tag("cp311", "cp311", "manylinux_2_36_x86_64")
    assert tags[-1] == Tag("py30", "none", "any")
    assert len(tags) == len(set(tags))

    def rank(text: str) -> int:
        return tags.index(Tag(*text.split("-")))

    # Exact ABI on the oldest platform beats the stable ABI on the newest one ...
    assert rank("cp311-cp311-linux_x86_64") < rank("cp311-abi3-manylinux_2_36_x86_64")
    # ... the stable ABI of an older CPython still beats a pure wheel ...
    assert rank("cp39-abi3-manylinux_2_17_x86_64") < rank("py3-none-manylinux_2_17_x86_64")
    assert rank("cp39-abi3-manylinux_2_17_x86_64") < rank("py3-none-any")
    # ... and a platform-specific pure wheel beats `any`.
    assert rank("py3-none-manylinux_2_17_x86_64") < rank("py3-none-any")


@pytest.mark.parametrize(
    "python, libc, arch, refused",
    [
        ((3, 11), GLIBC_2_36, "x86_64", "cp312-abi3-manylinux_2_17_x86_64"),  # abi3 from the future
        ((3, 11), GLIBC_2_36, "x86_64", "cp310-cp310-manylinux_2_17_x86_64"),  # other exact ABI
        ((3, 11), GLIBC_2_36, "x86_64", "cp311-cp311-manylinux_2_17_aarch64"),  # other arch
        ((3, 11), GLIBC_2_31, "x86_64", "cp311-cp311-manylinux_2_34_x86_64"),  # glibc too old
        ((3, 12), MUSL_1_2, "x86_64", "cp312-cp312-manylinux_2_17_x86_64"),  # musl vs glibc
        ((3, 11), GLIBC_2_36, "x86_64", "cp311-cp311-musllinux_1_1_x86_64"),  # glibc vs musl
        ((3, 11), GLIBC_2_36, "x86_64", "cp311-cp311-win_amd64"),
        ((3, 11), GLIBC_2_36, "x86_64", "py2-none-any"),
    ],
)
def test_cell_tags_refuse(python: tuple[int, int], libc: Libc, arch: str, refused: str) -> None:
    assert not set(parse_tag(refused)) & set(cell_tags(python, libc, arch))


# --------------------------------------------------------------------------- pick_wheel

EXACT_2_28 = wheel("cp311-cp311-manylinux_2_28_x86_64")
EXACT_2_34 = wheel("cp311-cp311-manylinux_2_34_x86_64")
ABI3_2_17 = wheel("cp39-abi3-manylinux_2_17_x86_64")
PURE = wheel("py3-none-any")
AARCH64 = wheel("cp39-abi3-manylinux_2_17_aarch64")


@pytest.mark.parametrize("order", [1, -1], ids=["given-order", "reversed"])
def test_pick_prefers_the_exact_abi_wheel_when_it_fits(order: int) -> None:
    accepted = cell_tags((3, 11), GLIBC_2_36, "x86_64")
    assert pick_wheel([PURE, ABI3_2_17, EXACT_2_28][::order], accepted) is EXACT_2_28


@pytest.mark.parametrize(
    "python, libc",
    [((3, 9), GLIBC_2_31), ((3, 11), GLIBC_2_31)],
    ids=["py3.9 (cp311 does not fit)", "py3.11 (manylinux_2_34 too new)"],
)
def test_pick_falls_back_to_abi3_when_the_exact_wheel_does_not_fit(
    python: tuple[int, int], libc: Libc
) -> None:
    accepted = cell_tags(python, libc, "x86_64")
    candidates = [EXACT_2_34, ABI3_2_17, PURE] if python == (3, 11) else [EXACT_2_28, ABI3_2_17, PURE]
    assert pick_wheel(candidates, accepted) is ABI3_2_17


def test_pick_falls_back_to_the_pure_wheel() -> None:
    accepted = cell_tags((3, 11), GLIBC_2_36, "aarch64")
    assert pick_wheel([EXACT_2_28, ABI3_2_17, PURE], accepted) is PURE


def test_pick_chooses_the_wheel_of_the_cell_arch() -> None:
    accepted = cell_tags((3, 11), GLIBC_2_36, "aarch64")
    assert pick_wheel([ABI3_2_17, AARCH64], accepted) is AARCH64


def test_pick_returns_none_when_nothing_fits() -> None:
    accepted = cell_tags((3, 9), GLIBC_2_31, "x86_64")
    assert pick_wheel([EXACT_2_28, EXACT_2_34, AARCH64, wheel("cp311-cp311-win_amd64")], accepted) is None
    assert pick_wheel([], accepted) is None


def test_pick_understands_compressed_tag_sets() -> None:
    multi = wheel("cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
    accepted = cell_tags((3, 11), GLIBC_2_31, "x86_64")
    assert pick_wheel([ABI3_2_17, multi], accepted) is multi
