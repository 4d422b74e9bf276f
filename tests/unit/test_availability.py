"""Which rows a host can run, and the fix for each it cannot (fake engine answers)."""

from __future__ import annotations

from typing import Any

import pytest

from wheelmatrix.backends import availability
from wheelmatrix.backends.availability import Probe, check
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


class Img:
    def __init__(self, arch: str, tags: list[str] | None = None) -> None:
        self.attrs = {"Architecture": arch}
        self.tags = tags or []


class Images:
    def __init__(self, local: dict[str, str], registry: set[str], prepared: list[str]) -> None:
        self.local, self.registry, self.prepared = local, registry, prepared
        self.asked: list[str] = []

    def list(self, filters: Any = None) -> list[Img]:
        return [Img("amd64", self.prepared)]

    def get(self, ref: str) -> Img:
        if ref not in self.local:
            raise LookupError(ref)
        return Img(self.local[ref])

    def get_registry_data(self, ref: str) -> None:
        self.asked.append(ref)
        if ref not in self.registry:
            raise OSError("no such host")


class Client:
    """A fake engine connection (backends.base.Connection's image facts) over fake image lists."""

    def __init__(self, local: dict[str, str] | None = None, registry: set[str] | None = None) -> None:
        self.images = Images(local or {}, registry or set(), [])

    def prepared_tags(self) -> set[str]:
        return {t for img in self.images.list() for t in img.tags}

    def image_arch(self, ref: str) -> str | None:
        try:
            return self.images.get(ref).attrs["Architecture"]
        except LookupError:
            return None

    def registry_answers(self, ref: str) -> bool:
        try:
            self.images.get_registry_data(ref)
            return True
        except OSError:
            return False


def both() -> list[str]:
    return ["x86_64", "aarch64"]


def test_registry_row_without_registry_says_mirror_or_docker_load(catalog: Catalog) -> None:
    row = check(catalog.get("almalinux-9"), "aarch64", Probe(Client()), both)
    assert not row.runnable
    assert "does not answer for almalinux:9" in row.how
    assert (
        "WHEELMATRIX_REGISTRY_MIRROR" in row.fix
        and "docker load -i FILE" in row.fix
        and "linux/arm64" in row.fix
    )


def test_registry_row_through_a_mirror_that_answers(catalog: Catalog) -> None:
    client = Client(registry={"127.0.0.1:5000/library/almalinux:8"})
    row = check(catalog.get("almalinux-8"), "x86_64", Probe(client, "127.0.0.1:5000"), both)
    assert row.runnable and "127.0.0.1:5000/library/almalinux:8" in row.how
    probe = Probe(client, "127.0.0.1:5000")
    check(catalog.get("almalinux-8"), "x86_64", probe, both)
    check(catalog.get("almalinux-8"), "aarch64", probe, both)
    assert client.images.asked.count("127.0.0.1:5000/library/almalinux:8") == 2  # once per probe


def test_loaded_image_of_the_right_arch_runs(catalog: Catalog) -> None:
    client = Client(local={"centos:7": "amd64"})
    assert check(catalog.get("centos-7"), "x86_64", Probe(client), both).runnable
    assert not check(catalog.get("centos-7"), "aarch64", Probe(client), both).runnable


def test_no_emulation_and_no_engine(catalog: Catalog) -> None:
    row = check(catalog.get("debian-12"), "aarch64", Probe(Client()), lambda: ["x86_64"])
    assert not row.runnable and "cannot run aarch64 containers" in row.how and "setup-host" in row.fix
    assert "no container engine" in check(catalog.get("debian-12"), "x86_64", Probe(None), both).how


def test_musl_row_is_built_here_when_the_tools_are_there(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wheelmatrix.backends.recipes import musl

    monkeypatch.setattr(musl, "missing_tools", lambda arch, python: [])
    row = check(catalog.get("musl-1.2.5"), "aarch64", Probe(Client()), both)
    assert row.runnable and row.builds and "cross-compiled here" in row.how
    monkeypatch.setattr(musl, "missing_tools", lambda arch, python: ["make (Debian package make)"])
    row = check(catalog.get("musl-1.2.5"), "aarch64", Probe(Client()), both)
    assert not row.runnable and "make" in row.how and "WHEELMATRIX_MUSL=1" in row.fix


def test_default_selection_leaves_out_rows_that_need_a_long_build(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wheelmatrix.backends.recipes import musl
    from wheelmatrix.service.setup import engine_distros

    monkeypatch.setattr(musl, "missing_tools", lambda arch, python: [])
    monkeypatch.setattr(availability, "runnable_archs", both)
    chosen = {d.id for d in engine_distros(Client())(catalog)}
    assert "musl-1.2.5" not in chosen and "almalinux-9" not in chosen


def test_rows_that_cannot_run_are_grouped_by_cause(catalog: Catalog) -> None:
    """16 rows the registry does not serve are one cause with the images it covers, not 16
    copies of one sentence; a second cause (no emulation) is its own line."""
    from wheelmatrix.backends.availability import causes

    distros = [catalog.get(d) for d in ("ubuntu-22.04", "fedora-41", "almalinux-9")]
    rows = [check(d, a, Probe(Client()), both) for d in distros for a in d.archs]
    rows += [check(catalog.get("centos-7"), "aarch64", Probe(Client()), lambda: ["x86_64"])]
    (registry, emulation) = causes(rows)
    assert registry.text == "the engine's registry does not answer"
    assert registry.labels == ["ubuntu-22.04", "fedora-41", "almalinux-9"]  # both archs: no arch said
    assert registry.subjects == ["ubuntu:22.04", "fedora:41", "almalinux:9"]
    assert "WHEELMATRIX_REGISTRY_MIRROR" in registry.fix and "these images" in registry.fix
    line = registry.line()
    assert line.startswith(
        "the engine's registry does not answer: 6 rows (ubuntu-22.04, fedora-41, almalinux-9)"
    )
    assert emulation.labels == ["centos-7/aarch64"] and "cannot run aarch64 containers" in emulation.text
