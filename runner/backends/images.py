"""Prepared cell images: cached by content tag; from the registry, else a local recipe."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from runner.backends.base import Log
from runner.backends.recipes import musl
from runner.config.catalog import DEBIAN_ARCH, DOCKER_PLATFORM, Distro
from runner.errors import InfrastructureError
from runner.host import cache_dir, debian_mirror, file_lock

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


def prepare(client: Any, distro: Distro, arch: str, log: Log) -> str:
    mirror = _mirror_or_none(distro)
    tag = image_tag(distro, arch, mirror)
    with file_lock(f"image-{tag}"):
        if _exists(client, tag):
            return tag
        labels = {LABEL_MANAGED: "true", LABEL_KIND: "image", LABEL_RECIPE: tag.split(":")[1]}
        problems = []
        ref = distro.images.get(arch)
        if ref:
            try:
                if _local_for_arch(client, ref, arch):
                    log(f"using {ref}, already present locally (e.g. docker load)")
                else:
                    log(f"pulling {ref} ({DOCKER_PLATFORM[arch]})")
                    repo, _, version = ref.partition(":")
                    client.images.pull(repo, tag=version or "latest", platform=DOCKER_PLATFORM[arch])
                _prepare_from_registry(client, distro, arch, ref, tag, labels, log)
                return tag
            except InfrastructureError:
                raise
            except Exception as exc:  # registry unreachable or image missing: try the recipe
                problems.append(f"registry image {ref}: {_short(exc)}")
        if distro.recipe is not None and distro.recipe.tool == "musl-python":
            _build_musl(client, distro, arch, tag, labels, log)
            return tag
        if distro.recipe is not None and mirror is not None:
            _build_recipe(client, distro, arch, mirror, tag, labels, log)
            return tag
        if distro.recipe is not None:
            problems.append("local recipe: mmdebstrap is not installed")
        raise InfrastructureError(
            f"cannot prepare an image for {distro.id}/{arch}: " + "; ".join(problems or ["no source"]),
            hint="make the registry reachable, or install mmdebstrap for distros with a recipe",
        )


def _mirror_or_none(distro: Distro) -> str | None:
    if distro.recipe is None or distro.recipe.tool != "mmdebstrap" or shutil.which("mmdebstrap") is None:
        return None
    return debian_mirror()


def _build_musl(client: Any, distro: Distro, arch: str, tag: str, labels: dict[str, str], log: Log) -> None:
    log(f"building {distro.id}/{arch} with the musl-python recipe")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        musl.build(arch, distro.python, tarball, log)
        _import_tarball(client, distro, arch, tarball, tag, labels, log)


def _exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def _local_for_arch(client: Any, ref: str, arch: str) -> bool:
    """The reference is already in the engine, for this arch (air-gapped hosts load images)."""
    import docker.errors

    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return bool(image.attrs.get("Architecture") == DOCKER_PLATFORM[arch].split("/")[1])


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]


def _prepare_from_registry(
    client: Any, distro: Distro, arch: str, ref: str, tag: str, labels: dict[str, str], log: Log
) -> None:
    log(f"installing Python into {ref}")
    script = distro.family.install_script()
    container = client.containers.create(
        ref, ["/bin/sh", "-c", script], platform=DOCKER_PLATFORM[arch], labels={LABEL_MANAGED: "true"}
    )
    try:
        container.start()
        status = container.wait()
        if status.get("StatusCode") != 0:
            out = container.logs(tail=20).decode("utf-8", "replace")
            raise InfrastructureError(f"preparing {distro.id}/{arch} from {ref} failed:\n{out}")
        repo, _, version = tag.partition(":")
        changes = [f'LABEL {k}="{v}"' for k, v in labels.items()] + ['CMD ["/bin/sh"]']
        container.commit(repository=repo, tag=version, changes=changes)
    finally:
        container.remove(force=True)


def _build_recipe(
    client: Any, distro: Distro, arch: str, mirror: str, tag: str, labels: dict[str, str], log: Log
) -> None:
    recipe = distro.recipe
    assert recipe is not None
    source = f"deb {mirror} {recipe.suite} {' '.join(recipe.components)}"
    log(f"building {distro.id}/{arch} with mmdebstrap ({recipe.suite})")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            f"--architectures={DEBIAN_ARCH[arch]}",
            f"--include={','.join(recipe.packages)}",
            "--format=tar",
            recipe.suite,
            str(tarball),
            source,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise InfrastructureError(
                f"mmdebstrap failed for {distro.id}/{arch}: {proc.stderr.strip()[-800:]}",
                hint="check the Debian mirror (WHEELMATRIX_DEBIAN_MIRROR) and, for foreign "
                "arches, QEMU emulation (wheelmatrix doctor)",
            )
        _import_tarball(client, distro, arch, tarball, tag, labels, log)


def _import_tarball(
    client: Any, distro: Distro, arch: str, tarball: Path, tag: str, labels: dict[str, str], log: Log
) -> None:
    """`docker import` of a root file system tarball, through the engine API."""
    log(f"importing {distro.id}/{arch} into the engine")
    repo, _, version = tag.partition(":")
    changes = [f'LABEL {k}="{v}"' for k, v in labels.items()] + [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["/bin/sh"]',
    ]
    api = client.api
    with tarball.open("rb") as fh:
        resp = api._post(
            api._url("/images/create"),
            params={
                "fromSrc": "-",
                "repo": repo,
                "tag": version,
                "platform": DOCKER_PLATFORM[arch],
                "changes": changes,
            },
            data=fh,
            headers={"Content-Type": "application/tar"},
            timeout=None,
        )
    if resp.status_code != 200 or "error" in resp.text.lower():
        raise InfrastructureError(f"importing {distro.id}/{arch} failed: {resp.text[:500]}")
