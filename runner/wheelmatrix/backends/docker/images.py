"""Preparing cell images on a Docker-API engine: cached by content tag; from the registry, else a
local recipe (mmdebstrap, musl) imported and labelled with its real architecture."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from wheelmatrix.backends.base import Log
from wheelmatrix.backends.images import (
    LABEL_KIND,
    LABEL_MANAGED,
    LABEL_RECIPE,
    REGISTRY_MIRROR_ENV,
    image_tag,
    pull_problem,
    registry_mirror,
    resolve_reference,
    split_reference,
)
from wheelmatrix.backends.recipes import musl
from wheelmatrix.backends.recipes.mmdebstrap import mmdebstrap_argv
from wheelmatrix.config.catalog import DOCKER_PLATFORM, Distro
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import cache_dir, debian_mirror, file_lock


def prepare(client: Any, distro: Distro, arch: str, log: Log, registry: str | None = None) -> str:
    mirror = _mirror_or_none(distro)
    tag = image_tag(distro, arch, mirror)
    with file_lock(f"image-{tag}"):
        if _exists(client, tag):
            relabel_arch(client, tag, arch)
            return tag
        labels = {LABEL_MANAGED: "true", LABEL_KIND: "image", LABEL_RECIPE: tag.split(":")[1]}
        problems = []
        ref = distro.images.get(arch)
        if ref:
            registry = registry_mirror(registry)
            resolved = resolve_reference(ref, registry)
            local = next(
                (r for r in dict.fromkeys((ref, resolved)) if _local_for_arch(client, r, arch)), None
            )
            try:
                if local is not None:
                    log(f"using {local}, already present locally (e.g. docker load)")
                else:
                    log(f"pulling {resolved} ({DOCKER_PLATFORM[arch]})")
                    repo, version = split_reference(resolved)
                    # one reference, several platforms: the engine keeps one tag, so pulls of it
                    # take turns and each arch goes on with the image id it pulled
                    with file_lock(f"pull-{resolved}"):
                        # and an engine holding the tag for another platform answers "up to
                        # date" (moby#42065-style): untag it first (the image itself stays)
                        if _tagged_other_arch(client, resolved, arch):
                            client.images.remove(resolved, noprune=True)
                        pulled = client.images.pull(repo, tag=version, platform=DOCKER_PLATFORM[arch])
                    local = pulled.id
                    if pulled.attrs.get("Architecture") != DOCKER_PLATFORM[arch].split("/")[1]:
                        raise InfrastructureError(
                            f"pulling {resolved} for {DOCKER_PLATFORM[arch]} gave an image of another "
                            "platform: the registry has no image for this one",
                            hint=f"publish {resolved} for {DOCKER_PLATFORM[arch]}, or drop {arch} for "
                            f"{distro.id}",
                        )
                _prepare_from_registry(client, distro, arch, local, tag, labels, log)
                return tag
            except InfrastructureError as exc:
                if distro.recipe is None:
                    raise
                problems.append(exc.message)
            except Exception as exc:  # registry unreachable or image missing: try the recipe
                problems.append(pull_problem(exc, resolved, arch, registry))
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
            hint=f"set {REGISTRY_MIRROR_ENV} to a reachable registry mirror, `docker load` the image, or "
            "install mmdebstrap for distros with a recipe (wheelmatrix distros says what each row needs)",
        )


def held(client: Any, distro: Distro, arch: str) -> str | None:
    """The tag of the distro's image for arch when the engine already holds it; None otherwise
    (nothing is built or pulled)."""
    tag = image_tag(distro, arch, _mirror_or_none(distro))
    return tag if _exists(client, tag) else None


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


def _tagged_other_arch(client: Any, ref: str, arch: str) -> bool:
    import docker.errors

    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return bool(image.attrs.get("Architecture") != DOCKER_PLATFORM[arch].split("/")[1])


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
    log(f"building {distro.id}/{arch} with mmdebstrap ({recipe.suite})")
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        tarball = Path(tmp) / "rootfs.tar"
        cmd = mmdebstrap_argv(recipe, arch, tarball, mirror)
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
    relabel_arch(client, tag, arch)


def relabel_arch(client: Any, tag: str, arch: str) -> None:
    """Engines without experimental features ignore the platform of an import and label every
    imported image with their own arch; an image pushed to a registry or copied to another
    engine must say what it holds. Rewrite the config's architecture: `docker save`, patch,
    `docker load` (the layers are unchanged)."""
    want = DOCKER_PLATFORM[arch].split("/")[1]
    image = client.images.get(tag)
    if image.attrs.get("Architecture") == want:
        return
    with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
        saved = Path(tmp) / "image.tar"
        with saved.open("wb") as fh:
            for chunk in image.save(named=True):
                fh.write(chunk)
        fixed = Path(tmp) / "fixed.tar"
        with tarfile.open(saved) as src, tarfile.open(fixed, "w") as dst:
            manifest = json.loads(src.extractfile("manifest.json").read())  # type: ignore[union-attr]
            old_name = manifest[0]["Config"]
            config = json.loads(src.extractfile(old_name).read())  # type: ignore[union-attr]
            config["architecture"] = want
            data = json.dumps(config, separators=(",", ":")).encode()
            new_name = hashlib.sha256(data).hexdigest() + ".json"
            manifest[0]["Config"] = new_name
            for member in src.getmembers():
                if member.name in (old_name, "manifest.json"):
                    continue
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            for name, blob in ((new_name, data), ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(blob)
                dst.addfile(info, io.BytesIO(blob))
        with fixed.open("rb") as fh:
            client.images.load(fh)
