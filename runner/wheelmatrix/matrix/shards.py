"""Splitting a planned matrix into N shards for N machines (a CI matrix, several hosts).

The unit is a container: the scenario cells of one distro/arch/Python/companion set, which run
after one install (a known-problem set's baseline stays with the set, so `known` can be decided
in the shard). Units are placed greedily, largest first, on the shard where they end soonest,
counting an image the shard does not prepare yet as extra cost: shards come out balanced by
expected cost and each prepares as few images as possible. Deterministic: the same matrix
always gives the same shards, on every machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from wheelmatrix.config.limits import SHARDS, clipped
from wheelmatrix.errors import InputError
from wheelmatrix.matrix.cells import Cell

EMULATED_FACTOR = 3.0  # an emulated cell costs about this many native ones (measured: 2.8x)
EXTRA_SCENARIO = 0.5  # each scenario after the first in a container (no second install)
IMAGE_COST = 5.0  # preparing (or loading) one more image in a shard: worth a few cells


@dataclass(frozen=True)
class Unit:
    key: tuple[str, str, str, str]  # distro, arch, python, companion set
    image: str  # distro/arch
    cells: tuple[Cell, ...]

    @property
    def cost(self) -> float:
        scenarios = len({c.scenario.name for c in self.cells})
        containers = len({c.container_key for c in self.cells})
        base = containers + EXTRA_SCENARIO * max(0, scenarios - 1) * containers
        return base * (EMULATED_FACTOR if self.cells[0].emulated else 1.0)


@dataclass
class Shard:
    index: int  # 1-based
    total: int
    units: list[Unit] = field(default_factory=list)
    ordered: list[Cell] = field(default_factory=list)  # the units' cells in matrix order

    @property
    def cells(self) -> list[Cell]:
        return self.ordered

    @property
    def images(self) -> list[str]:
        return sorted({u.image for u in self.units})

    @property
    def cost(self) -> float:
        return sum(u.cost for u in self.units) + IMAGE_COST * len(self.images)

    @property
    def label(self) -> str:
        return f"{self.index}/{self.total}"

    def to_json(self) -> dict[str, object]:
        return {
            "shard": self.label,
            "index": self.index,
            "of": self.total,
            "cells": len(self.cells),
            "containers": len({c.container_key for c in self.cells}),
            "images": " ".join(self.images),
            "cost": round(self.cost, 2),
        }


def units_of(cells: Sequence[Cell]) -> list[Unit]:
    groups: dict[tuple[str, str, str, str], list[Cell]] = {}
    for cell in cells:
        key = (cell.distro.id, cell.arch, cell.python, cell.variant.removesuffix(".baseline"))
        groups.setdefault(key, []).append(cell)
    return [Unit(k, f"{k[0]}/{k[1]}", tuple(v)) for k, v in groups.items()]


def split(cells: Sequence[Cell], n: int) -> list[Shard]:
    """The cells in n shards; every cell in exactly one.

    First whole images, biggest first, each on the least loaded shard if it fits there within
    the average load; then the units of images that did not fit, biggest first, each where it
    ends soonest counting a new image as IMAGE_COST."""
    problem = SHARDS.problem(n)
    if problem:
        raise InputError(f"--shards: {problem}")
    shards = [Shard(i + 1, n) for i in range(n)]
    units = units_of(cells)
    by_image: dict[str, list[Unit]] = {}
    for u in units:
        by_image.setdefault(u.image, []).append(u)
    totals = {image: sum(u.cost for u in us) for image, us in by_image.items()}
    target = (sum(totals.values()) + IMAGE_COST * len(totals)) / n
    loads = [0.0] * n
    images: list[set[str]] = [set() for _ in range(n)]
    deferred: list[Unit] = []
    for image in sorted(by_image, key=lambda i: (-totals[i], i)):
        best = min(range(n), key=lambda i: (loads[i], i))
        if loads[best] + totals[image] + IMAGE_COST <= target * 1.05:
            shards[best].units.extend(by_image[image])
            loads[best] += totals[image] + IMAGE_COST
            images[best].add(image)
        else:
            deferred.extend(by_image[image])
    deferred.sort(key=lambda u: (-totals[u.image], u.image, -u.cost, u.key))
    for u in deferred:

        def end(i: int, u: Unit = u) -> tuple[float, int]:
            return (loads[i] + u.cost + (0.0 if u.image in images[i] else IMAGE_COST), i)

        best = min(range(n), key=end)
        shards[best].units.append(u)
        loads[best] = end(best)[0]
        images[best].add(u.image)
    order = {c.id: i for i, c in enumerate(cells)}
    for shard in shards:  # each shard runs its cells in the matrix's own order
        shard.ordered = sorted((c for u in shard.units for c in u.cells), key=lambda c: order[c.id])
    return shards


def parse_shard(text: str) -> tuple[int, int]:
    """'2/5' -> (2, 5)."""
    m = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)) or SHARDS.problem(int(m.group(2))):
        raise InputError(
            f"--shard '{clipped(text)}': expected I/N with 1 <= I <= N and N {SHARDS.describe()}, e.g. 2/5",
            hint="`wheelmatrix plan --shards N` prints the shards",
        )
    return int(m.group(1)), int(m.group(2))


def shard_cells(cells: Sequence[Cell], index: int, total: int) -> list[Cell]:
    return split(cells, total)[index - 1].cells
