"""Shards: every cell exactly once, deterministic, balanced, few images per shard."""

from __future__ import annotations

import dataclasses

import pytest
from packaging.utils import canonicalize_name

from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import InputError
from wheelmatrix.inputs.wheels import Project, RequirementSpec
from wheelmatrix.matrix.cells import Cell, build_matrix, select_targets
from wheelmatrix.matrix.shards import IMAGE_COST, parse_shard, split


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def cells_for(catalog: Catalog, distros: list[str], scenarios: int = 2, sets: int = 0) -> list[Cell]:
    targets = select_targets([catalog.get(d) for d in distros], [], [], "x86_64", ["x86_64", "aarch64"])
    spec = RequirementSpec(text="wmpure", project=canonicalize_name("wmpure"))
    cells = build_matrix(
        targets,
        [Scenario(name=f"s{i}", kind="import", description="t") for i in range(scenarios)],
        [Project(name=spec.project, requirement=spec)],
    )
    extra = [dataclasses.replace(c, variant=f"set{k}") for k in range(sets) for c in cells]
    extra += [
        dataclasses.replace(c, variant=f"set{k}.baseline", baseline=True) for k in range(sets) for c in cells
    ]
    return cells + extra


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 50])
def test_every_cell_exactly_once(catalog: Catalog, n: int) -> None:
    cells = cells_for(catalog, ["debian-11", "debian-12", "debian-13", "ubuntu-24.04"], sets=2)
    shards = split(cells, n)
    got = [c.id for s in shards for c in s.cells]
    assert sorted(got) == sorted(c.id for c in cells) and len(got) == len(set(got))
    assert [s.label for s in shards] == [f"{i}/{n}" for i in range(1, n + 1)]


def test_deterministic_and_in_matrix_order(catalog: Catalog) -> None:
    cells = cells_for(catalog, ["debian-11", "debian-12", "debian-13"], sets=1)
    one = [[c.id for c in s.cells] for s in split(cells, 3)]
    two = [[c.id for c in s.cells] for s in split(list(cells), 3)]
    assert one == two
    order = {c.id: i for i, c in enumerate(cells)}
    for ids in one:
        assert ids == sorted(ids, key=order.__getitem__)


def test_a_set_stays_with_its_baseline_and_scenarios_with_their_container(catalog: Catalog) -> None:
    cells = cells_for(catalog, ["debian-11", "debian-12"], scenarios=3, sets=2)
    for shard in split(cells, 5):
        ids = {c.id for c in shard.cells}
        for c in shard.cells:
            base = c.variant.removesuffix(".baseline")
            mates = [d for d in cells if (d.distro.id, d.arch, d.variant.removesuffix(".baseline")) ==
                     (c.distro.id, c.arch, base)]  # fmt: skip
            assert all(m.id in ids for m in mates)


def test_balanced_and_few_images(catalog: Catalog) -> None:
    cells = cells_for(catalog, ["debian-11", "debian-12", "debian-13", "ubuntu-22.04"], sets=1)
    shards = split(cells, 4)
    costs = [s.cost for s in shards]
    assert max(costs) - min(costs) <= IMAGE_COST + 5, costs
    images = sum(len(s.images) for s in shards)
    assert images <= 8 + 4, [s.images for s in shards]  # 8 images; at most one split per shard
    # two images, two shards: one image each
    two = split(cells_for(catalog, ["debian-12"]), 2)
    assert sorted(s.images for s in two) == [["debian-12/aarch64"], ["debian-12/x86_64"]]


def test_more_shards_than_work_leaves_empty_shards(catalog: Catalog) -> None:
    shards = split(cells_for(catalog, ["debian-12"], scenarios=1), 4)
    assert sorted(len(s.cells) for s in shards) == [0, 0, 1, 1]


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0", ""])
def test_bad_shard_names(text: str) -> None:
    with pytest.raises(InputError, match="expected I/N"):
        parse_shard(text)
    assert parse_shard(" 2 / 5 ") == (2, 5)
