"""Fixture wheels for the unit tests: built once per session (per xdist worker)."""

from __future__ import annotations

import pytest

from tests.fixtures.selection import BUILT_ARCHES
from tests.fixtures.wheels import ARCHES, Fixture, build_all
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fixture]:
    return build_all(tmp_path_factory.mktemp("unit-wheels"), arches=BUILT_ARCHES)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog (modules that need another define their own `catalog`)."""
    return load_catalog(default_catalog_path())


@pytest.fixture(params=ARCHES)
def arch(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    if value not in BUILT_ARCHES:
        pytest.skip(f"{value}-linux-gnu-gcc or -g++ is not installed")
    return value
