"""Cell images, engine-neutral: the content tag a prepared image gets, registry references
through a mirror, and what a failed pull means (the engine's own preparation is in backends/docker/)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from wheelmatrix.backends.recipes import musl
from wheelmatrix.config.catalog import DOCKER_PLATFORM, Distro

LABEL_MANAGED = "org.wheelmatrix.managed"
LABEL_KIND = "org.wheelmatrix.kind"
LABEL_RECIPE = "org.wheelmatrix.recipe"
PREPARE_VERSION = 1  # bump when the preparation itself changes


def image_tag(distro: Distro, arch: str, mirror: str | None) -> str:
    recipe = distro.recipe
    content: dict[str, Any] = {
        "prepare": PREPARE_VERSION,
        "arch": arch,
        "image": distro.images.get(arch),
        "install": distro.family.install_script(),
        "python": distro.python_executable,
        "recipe": None
        if recipe is None
        else {
            "suite": recipe.suite,
            "packages": recipe.packages,
            "components": recipe.components,
            "mirror": mirror,
        },
    }
    if recipe is not None and recipe.tool == "musl-python":
        # built from pinned inputs: the mirror they came from does not change the result
        content["recipe"] = {"tool": recipe.tool, **musl.fingerprint(arch)}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return f"wheelmatrix/{distro.id}:{arch}-{digest}"


REGISTRY_MIRROR_ENV = "WHEELMATRIX_REGISTRY_MIRROR"


def registry_mirror(configured: str | None = None) -> str | None:
    """The registry mirror or prefix to pull catalog references through: the run's setting,
    else WHEELMATRIX_REGISTRY_MIRROR, else None (the engine's own default registry)."""
    value = configured or os.environ.get(REGISTRY_MIRROR_ENV) or None
    return value.rstrip("/").removeprefix("https://").removeprefix("http://") if value else None


def resolve_reference(ref: str, mirror: str | None) -> str:
    """A catalog reference as pulled through MIRROR: `debian:12` becomes
    `MIRROR/library/debian:12` (how a Docker Hub pull-through cache serves official images),
    `org/img:1` becomes `MIRROR/org/img:1`; a reference that names its own registry stays."""
    if not mirror:
        return ref
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"{mirror}/{ref if rest else 'library/' + ref}"


def split_reference(ref: str) -> tuple[str, str]:
    """(repository, tag) of a reference; the tag defaults to latest. A registry's port is not a tag."""
    head, sep, tail = ref.rpartition(":")
    if not sep or "/" in tail:
        return ref, "latest"
    return head, tail


def pull_problem(exc: BaseException, resolved: str, arch: str, mirror: str | None) -> str:
    """What went wrong pulling RESOLVED, and what to do, by the engine's answer (quoted)."""
    return f"{_pull_advice(exc, resolved, arch, mirror)} (the engine said: {_short(exc)})"


def _pull_advice(exc: BaseException, resolved: str, arch: str, mirror: str | None) -> str:
    text = str(exc)
    low = text.lower()
    where = (
        f"the mirror {mirror} ({REGISTRY_MIRROR_ENV} / registry-mirror)"
        if mirror
        else "the engine's registry"
    )
    if "no matching manifest" in low or "does not match the specified platform" in low:
        return (
            f"{resolved} has no {DOCKER_PLATFORM[arch]} image in {where}: publish one for that platform, "
            f"or drop {arch} for this distro"
        )
    if any(
        k in low
        for k in (
            "unauthorized",
            "authentication required",
            "denied",
            "403 forbidden",
            "no basic auth credentials",
        )
    ):
        registry = resolved.split("/")[0] if "/" in resolved else "the registry"
        return (
            f"{where} refused {resolved} (authentication): `docker login {registry}` on the engine's host, "
            "or use a mirror that serves it without credentials"
        )
    if any(
        k in low
        for k in (
            "connection refused",
            "no such host",
            "i/o timeout",
            "timeout",
            "dial tcp",
            "network is unreachable",
            "server misbehaving",
        )
    ):
        return (
            f"cannot reach {where} for {resolved}: set {REGISTRY_MIRROR_ENV} (or `registry-mirror:` in the "
            f"config file) to a reachable mirror or pull-through cache, or `docker load` an image file of "
            f"{resolved} for {DOCKER_PLATFORM[arch]}"
        )
    if any(k in low for k in ("manifest unknown", "not found", "repository does not exist", "404")):
        return (
            f"{where} has no image {resolved}: check the reference in the distro catalog, or push/mirror it "
            "there"
        )
    return f"pulling {resolved} failed: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
