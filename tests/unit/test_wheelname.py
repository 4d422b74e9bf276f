"""The wheel file name reader gives packaging's answer, name by name (it exists only so that a
scan does not import packaging.tags)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from wheelmatrix.inputs.wheelname import InvalidWheelName, canonical_name, parse_wheel_name

POPULATION = Path(__file__).resolve().parents[2] / "bench" / "data" / "population-2026-12-02.json"


def packaging_answer(filename: str) -> tuple[str, str, str, set[str]] | None:
    try:
        name, version, build, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    return name, str(version), "".join(str(p) for p in build), {str(t) for t in tags}


def our_answer(filename: str) -> tuple[str, str, str, set[str]] | None:
    try:
        got = parse_wheel_name(filename)
    except InvalidWheelName:
        return None
    return got.project, got.version, got.build, {str(t) for t in got.triples}


def population_names() -> list[str]:
    doc = json.loads(POPULATION.read_text())
    names = [w["filename"] for p in doc["projects"] for w in p["wheels"]]
    assert len(names) > 500
    return names


def test_every_population_wheel_name_reads_as_packaging_reads_it() -> None:
    for filename in population_names():
        assert our_answer(filename) == packaging_answer(filename) is not None, filename


@pytest.mark.parametrize(
    "filename",
    [
        "demo-1.0-py3-none-any.whl",
        "Demo.Pkg_x-1.0.post1-py2.py3-none-any.whl",
        "numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "demo-1.0-01abc-cp39-abi3-MANYLINUX2014_X86_64.whl",  # build tag, upper-case tags
        "demo-01.00-py3-none-any.whl",  # version normalized
        "demo-1.0-py3-none-any.zip",
        "demo-1.0-py3-none.whl",
        "demo-1.0-x-py3-none-any.whl",  # build tag must start with a digit
        "de__mo-1.0-py3-none-any.whl",
        "-1.0-py3-none-any.whl",
        "demo-one-py3-none-any.whl",
        "demo-1.0-py3..py2-none-any.whl",
        "demo-1.0-3py-none-any.whl",  # interpreter is not an identifier
        "démo-1.0-py3-none-any.whl",
        "demo-1.0-1-2-py3-none-any.whl",
    ],
)
def test_edge_names_read_as_packaging_reads_them(filename: str) -> None:
    assert our_answer(filename) == packaging_answer(filename)


_PART = st.text(alphabet="abcXYZ019_.-+!é", min_size=0, max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PART, min_size=1, max_size=7), st.sampled_from([".whl", ".WHL", ""]))
@example(["a", "1.0", "py3", "none", "any"], ".whl")
def test_generated_names_read_as_packaging_reads_them(parts: list[str], suffix: str) -> None:
    filename = "-".join(parts) + suffix
    assert our_answer(filename) == packaging_answer(filename)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ09-_.~", max_size=12))
def test_names_normalize_as_packaging_normalizes_them(name: str) -> None:
    assert canonical_name(name) == canonicalize_name(name)


def test_a_refused_name_says_which_part_is_wrong() -> None:
    with pytest.raises(InvalidWheelName, match="invalid build tag 'x'"):
        parse_wheel_name("demo-1.0-x-py3-none-any.whl")
    with pytest.raises(InvalidWheelName, match="invalid version 'one'"):
        parse_wheel_name("demo-one-py3-none-any.whl")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.", min_size=1, max_size=10))
def test_plain_release_numbers_read_as_packaging_reads_them(version: str) -> None:
    filename = f"demo-{version}-py3-none-any.whl"
    assert our_answer(filename) == packaging_answer(filename)
