"""Image preparation logic for every family, with a fake engine client (no Docker needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from wheelmatrix.backends import images
from wheelmatrix.backends.docker import images as docker_images
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.errors import InfrastructureError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELMATRIX_CACHE", str(tmp_path / "cache"))


class FakeContainer:
    def __init__(self, client: FakeClient, image: str, command: list[str], kwargs: dict[str, Any]) -> None:
        self.client, self.image, self.command, self.kwargs = client, image, command, kwargs
        self.removed = False

    def start(self) -> None:
        pass

    def wait(self) -> dict[str, int]:
        return {"StatusCode": self.client.exit_code}

    def logs(self, tail: int = 20) -> bytes:
        return b"E: Unable to locate package python3-venv"

    def commit(self, repository: str, tag: str, changes: list[str]) -> None:
        self.client.commits.append((f"{repository}:{tag}", changes))
        self.client.local.add(f"{repository}:{tag}")
        self.client.local_arch[f"{repository}:{tag}"] = self.kwargs["platform"].split("/")[1]

    def remove(self, force: bool = False) -> None:
        self.removed = True


class FakeImage:
    def __init__(self, architecture: str, ident: str = "sha256:fake") -> None:
        self.attrs = {"Architecture": architecture}
        self.id = ident


class FakeImages:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def get(self, tag: str) -> FakeImage:
        if tag not in self.client.local:
            raise docker.errors.ImageNotFound(tag)
        return FakeImage(self.client.local_arch.get(tag, "amd64"))

    def pull(self, repo: str, tag: str, platform: str) -> FakeImage:
        self.client.pulls.append((f"{repo}:{tag}", platform))
        if not self.client.registry_up:
            raise docker.errors.APIError("dial tcp: lookup registry: no such host")
        arch = platform.split("/")[1]
        self.client.local.add(f"{repo}:{tag}")
        self.client.local_arch[f"{repo}:{tag}"] = arch
        return FakeImage(arch, f"sha256:{arch}")

    def remove(self, image: str, noprune: bool = False) -> None:
        self.client.removed_tags.append(image)
        self.client.local.discard(image)


class FakeContainers:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    def create(self, image: str, command: list[str], **kwargs: Any) -> FakeContainer:
        c = FakeContainer(self.client, image, command, kwargs)
        self.client.created.append(c)
        return c


class FakeClient:
    def __init__(self, registry_up: bool = True, exit_code: int = 0) -> None:
        self.registry_up, self.exit_code = registry_up, exit_code
        self.local: set[str] = set()
        self.local_arch: dict[str, str] = {}
        self.pulls: list[tuple[str, str]] = []
        self.removed_tags: list[str] = []
        self.commits: list[tuple[str, list[str]]] = []
        self.created: list[FakeContainer] = []
        self.images = FakeImages(self)
        self.containers = FakeContainers(self)


@pytest.mark.parametrize(
    "distro_id, arch, platform, install_fragment",
    [
        ("fedora-41", "x86_64", "linux/amd64", "dnf install -y -q python3"),
        ("alpine-3.20", "aarch64", "linux/arm64", "apk add --no-cache python3"),
        (
            "ubuntu-22.04",
            "aarch64",
            "linux/arm64",
            "apt-get install -y -qq --no-install-recommends python3 python3-venv",
        ),
        ("centos-7", "x86_64", "linux/amd64", "yum install -y -q python3"),
    ],
)
def test_registry_image_is_pulled_prepared_and_committed_with_labels(
    catalog: Catalog, distro_id: str, arch: str, platform: str, install_fragment: str
) -> None:
    client = FakeClient()
    distro = catalog.get(distro_id)
    tag = docker_images.prepare(client, distro, arch, lambda msg: None)
    assert tag == images.image_tag(distro, arch, None)
    assert tag.startswith(f"wheelmatrix/{distro_id}:{arch}-")
    assert client.pulls == [(distro.images[arch], platform)]
    (container,) = client.created
    # the container starts from the image id the pull gave (the tag may be re-pulled for another arch)
    assert container.image == f"sha256:{platform.split('/')[1]}"
    assert container.kwargs["platform"] == platform
    assert install_fragment in container.command[-1]
    assert container.removed, "the preparation container must always be removed"
    (committed, changes) = client.commits[0]
    assert committed == tag
    assert f'LABEL {images.LABEL_MANAGED}="true"' in changes
    # a second call finds the cached image and does nothing
    docker_images.prepare(client, distro, arch, lambda msg: None)
    assert len(client.pulls) == 1 and len(client.created) == 1


def test_failed_preparation_names_the_distro_and_shows_the_output(catalog: Catalog) -> None:
    client = FakeClient(exit_code=100)
    with pytest.raises(InfrastructureError, match=r"(?s)fedora-41/x86_64.*Unable to locate package"):
        docker_images.prepare(client, catalog.get("fedora-41"), "x86_64", lambda msg: None)
    assert client.created[0].removed and not client.commits


def test_unreachable_registry_without_recipe_is_an_infrastructure_error(catalog: Catalog) -> None:
    client = FakeClient(registry_up=False)
    with pytest.raises(InfrastructureError) as info:
        docker_images.prepare(client, catalog.get("alpine-3.20"), "x86_64", lambda msg: None)
    assert "alpine-3.20/x86_64" in info.value.message and "no such host" in info.value.message
    assert info.value.exit_code == 3


def test_unreachable_registry_falls_back_to_the_local_recipe(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FakeClient(registry_up=False)
    built: list[tuple[str, str, str]] = []

    def fake_build(client: Any, distro: Any, arch: str, mirror: str, tag: str, labels: Any, log: Any) -> None:
        built.append((distro.id, arch, mirror))

    monkeypatch.setattr(docker_images, "_build_recipe", fake_build)
    monkeypatch.setattr(docker_images, "_mirror_or_none", lambda distro: "http://mirror.invalid/debian")
    tag = docker_images.prepare(client, catalog.get("debian-12"), "aarch64", lambda msg: None)
    assert built == [("debian-12", "aarch64", "http://mirror.invalid/debian")]
    assert tag == images.image_tag(catalog.get("debian-12"), "aarch64", "http://mirror.invalid/debian")


def test_image_tag_follows_the_recipe_content(catalog: Catalog) -> None:
    d12 = catalog.get("debian-12")
    base = images.image_tag(d12, "x86_64", "http://m/debian")
    assert base == images.image_tag(d12, "x86_64", "http://m/debian")  # stable
    assert base != images.image_tag(d12, "aarch64", "http://m/debian")
    assert base != images.image_tag(d12, "x86_64", "http://other/debian")
    assert d12.recipe is not None
    more = dataclasses.replace(d12, recipe=dataclasses.replace(d12.recipe, packages=("python3", "gdb")))
    assert base != images.image_tag(more, "x86_64", "http://m/debian")


def test_a_locally_loaded_registry_image_is_used_without_pulling(catalog: Catalog) -> None:
    client = FakeClient(registry_up=False)  # air-gapped: pulling would fail
    client.local.add("alpine:3.20")
    client.local_arch["alpine:3.20"] = "arm64"
    tag = docker_images.prepare(client, catalog.get("alpine-3.20"), "aarch64", lambda msg: None)
    assert client.pulls == [] and client.created[0].image == "alpine:3.20"
    assert client.commits[0][0] == tag


def test_a_local_image_of_another_arch_is_not_used(catalog: Catalog) -> None:
    client = FakeClient()
    client.local.add("alpine:3.20")  # amd64 only
    docker_images.prepare(client, catalog.get("alpine-3.20"), "aarch64", lambda msg: None)
    assert client.pulls == [("alpine:3.20", "linux/arm64")]


@pytest.mark.parametrize(
    ("ref", "mirror", "resolved"),
    [
        ("debian:12", None, "debian:12"),
        ("debian:12", "127.0.0.1:5000", "127.0.0.1:5000/library/debian:12"),
        ("almalinux/8-base:8", "mirror.example:5000/hub", "mirror.example:5000/hub/almalinux/8-base:8"),
        ("quay.io/pypa/manylinux2014_x86_64", "127.0.0.1:5000", "quay.io/pypa/manylinux2014_x86_64"),
        ("localhost:5000/x:1", "127.0.0.1:5000", "localhost:5000/x:1"),
    ],
)
def test_references_resolve_through_the_mirror(ref: str, mirror: str | None, resolved: str) -> None:
    assert images.resolve_reference(ref, mirror) == resolved


def test_split_reference_keeps_the_registry_port() -> None:
    assert images.split_reference("127.0.0.1:5000/library/debian:12") == (
        "127.0.0.1:5000/library/debian",
        "12",
    )
    assert images.split_reference("127.0.0.1:5000/library/debian") == (
        "127.0.0.1:5000/library/debian",
        "latest",
    )
    assert images.split_reference("debian") == ("debian", "latest")


def test_mirror_setting_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHEELMATRIX_REGISTRY_MIRROR", "https://env.example:5000/")
    assert images.registry_mirror(None) == "env.example:5000"
    assert images.registry_mirror("cli.example") == "cli.example"
    monkeypatch.delenv("WHEELMATRIX_REGISTRY_MIRROR")
    assert images.registry_mirror(None) is None


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ("manifest for 127.0.0.1:5000/library/x:1 not found: manifest unknown", "has no image"),
        ("unauthorized: authentication required", "docker login 127.0.0.1:5000"),
        (
            "Get https://127.0.0.1:5000/v2/: dial tcp 127.0.0.1:5000: connect: connection refused",
            "cannot reach",
        ),
        ("no matching manifest for linux/arm64 in the manifest list entries", "has no linux/arm64 image"),
    ],
)
def test_pull_failures_name_the_reference_and_the_fix(answer: str, words: str) -> None:
    text = images.pull_problem(
        docker.errors.APIError(answer), "127.0.0.1:5000/library/x:1", "aarch64", "127.0.0.1:5000"
    )
    assert words in text and "127.0.0.1:5000/library/x:1" in text and "the engine said:" in text


def test_a_tag_held_for_another_arch_is_untagged_before_the_pull(catalog: Catalog) -> None:
    client = FakeClient()
    client.local.add("alpine:3.20")
    client.local_arch["alpine:3.20"] = "amd64"
    docker_images.prepare(client, catalog.get("alpine-3.20"), "aarch64", lambda msg: None)
    assert client.removed_tags == ["alpine:3.20"] and client.pulls == [("alpine:3.20", "linux/arm64")]
