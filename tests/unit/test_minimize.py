"""Delta debugging over a set, with a fake test: the result is 1-minimal, keeps the given
order, and costs far fewer runs than trying every pair in both orders."""

from __future__ import annotations

import itertools

import pytest

from wheelmatrix.errors import InputError
from wheelmatrix.service.minimize import Search, _split, parse_requirements_file


def collide(a: str, b: str) -> object:
    """Fails when a is imported before b (both present), like the RTLD_GLOBAL pair."""

    def test(subset: tuple[str, ...]) -> bool:
        return a in subset and b in subset and subset.index(a) < subset.index(b)

    return test


@pytest.mark.parametrize("n", [2, 3, 8, 16, 31])
def test_ddmin_finds_the_colliding_pair_wherever_it_is(n: int) -> None:
    items = [f"p{i}" for i in range(n)]
    for a, b in itertools.combinations(range(n), 2):
        search: Search[str] = Search(collide(items[a], items[b]))  # type: ignore[arg-type]
        assert search.ddmin(items) == [items[a], items[b]]
        assert search.runs <= max(4, 4 * n), (a, b, search.runs)


def test_sixteen_packages_two_colliding_cost_under_a_quarter_of_all_pairs() -> None:
    items = [f"p{i}" for i in range(16)]
    naive = 16 * 15  # every pair, both orders
    worst = 0
    for a, b in itertools.combinations(range(16), 2):
        search: Search[str] = Search(collide(items[a], items[b]))  # type: ignore[arg-type]
        search.ddmin(items)
        worst = max(worst, search.runs)
    assert worst < naive / 4, worst


def test_a_single_culprit_and_a_triple() -> None:
    items = list("abcdefgh")
    one: Search[str] = Search(lambda s: "e" in s)
    assert one.ddmin(items) == ["e"]
    three: Search[str] = Search(lambda s: {"b", "d", "g"} <= set(s))
    assert three.ddmin(items) == ["b", "d", "g"]


def test_each_subset_is_asked_once() -> None:
    asked: list[tuple[str, ...]] = []

    def test(s: tuple[str, ...]) -> bool:
        asked.append(s)
        return "c" in s

    search: Search[str] = Search(test)
    search.ddmin(list("abcdef"))
    assert len(asked) == len(set(asked)) == search.runs


def test_split_is_contiguous_and_complete() -> None:
    assert _split(list("abcdefg"), 3) == [list("abc"), list("de"), list("fg")]
    assert _split(list("ab"), 4) == [["a"], ["b"]]


def test_requirements_file_like_pip_freeze() -> None:
    text = "# frozen\nnumpy==2.2.6\npandas==2.2.3  # data\n\n-i https://example.invalid/simple\n"
    text += "scipy==1.15.3 \\\n"
    assert parse_requirements_file(text, "req.txt") == ["numpy==2.2.6", "pandas==2.2.3", "scipy==1.15.3"]
    with pytest.raises(InputError, match=r"req.txt:2: '-e \./src' is not a released distribution"):
        parse_requirements_file("numpy\n-e ./src\n", "req.txt")
    with pytest.raises(InputError, match="req.txt:1"):
        parse_requirements_file("mypkg @ file:///home/me/mypkg\n", "req.txt")
