"""Which catalog rows this host can run, how, and for each one it cannot: why, and what would
make it run (a registry or mirror, an image file to `docker load`, a host tool)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from wheelmatrix.backends.base import Connection
from wheelmatrix.backends.images import REGISTRY_MIRROR_ENV, image_tag, registry_mirror, resolve_reference
from wheelmatrix.config.catalog import DOCKER_PLATFORM, Distro
from wheelmatrix.host import debian_mirror, host_arch, runnable_archs, setup_command


@dataclass(frozen=True, kw_only=True)
class Availability:
    distro: str
    arch: str
    runnable: bool
    how: str  # where the image comes from, or why it cannot run
    fix: str = ""  # what would make it run ("" when it runs)
    builds: bool = False  # runnable, after a local build of minutes (not in the default selection)


class Probe:
    """What the engine has and which references the registry answers for (each asked once)."""

    def __init__(self, connection: Connection | None, mirror: str | None = None) -> None:
        self.connection = connection
        self.mirror = registry_mirror(mirror)
        self._registry: dict[str, bool] = {}
        self._local: dict[tuple[str, str], bool] = {}

    def prepared(self, tag: str) -> bool:
        return self.connection is not None and tag in self.connection.prepared_tags()

    def local(self, ref: str, arch: str) -> bool:
        if self.connection is None:
            return False
        key = (ref, arch)
        if key not in self._local:
            self._local[key] = self.connection.image_arch(ref) == DOCKER_PLATFORM[arch].split("/")[1]
        return self._local[key]

    def answers(self, ref: str) -> bool:
        if self.connection is None:
            return False
        if ref not in self._registry:
            self._registry[ref] = self.connection.registry_answers(ref)
        return self._registry[ref]


def check(
    distro: Distro, arch: str, probe: Probe, archs: Callable[[], list[str]] = runnable_archs
) -> Availability:
    def row(runnable: bool, how: str, fix: str = "", builds: bool = False) -> Availability:
        return Availability(distro=distro.id, arch=arch, runnable=runnable, how=how, fix=fix, builds=builds)

    if probe.connection is None:
        return row(False, "no container engine answers", f"start one: {setup_command()}")
    if arch not in archs():
        return row(
            False, f"this {host_arch()} host cannot run {arch} containers", f"enable QEMU: {setup_command()}"
        )
    recipe = distro.recipe
    mirror = None
    if recipe is not None and recipe.tool == "mmdebstrap" and shutil.which("mmdebstrap"):
        try:
            mirror = debian_mirror()
        except Exception:
            mirror = None
    if probe.prepared(image_tag(distro, arch, mirror)):
        return row(True, "prepared image cached in the engine")
    ref = distro.images.get(arch)
    resolved = resolve_reference(ref, probe.mirror) if ref else None
    if ref and resolved and (probe.local(ref, arch) or probe.local(resolved, arch)):
        return row(True, f"image {ref} loaded in the engine")
    if recipe is not None and recipe.tool == "mmdebstrap" and mirror is not None:
        return row(True, f"built here with mmdebstrap ({recipe.suite}, from the host's Debian mirror)")
    if recipe is not None and recipe.tool == "musl-python":
        from wheelmatrix.backends.recipes import musl

        missing = musl.missing_tools(arch, distro.python)
        if not missing:
            return row(
                True,
                "cross-compiled here from pinned Debian sources (a few minutes, once; not in the default "
                "selection until built: ask for it with --distro)",
                builds=True,
            )
        return row(
            False, "the musl recipe needs " + ", ".join(missing), f"WHEELMATRIX_MUSL=1 {setup_command()}"
        )
    if resolved and probe.answers(resolved):
        return row(True, f"pulled from the registry as {resolved}")
    needs = []
    if resolved:
        where = f"the mirror {probe.mirror}" if probe.mirror else "the engine's registry"
        needs.append(
            f"set {REGISTRY_MIRROR_ENV} to a mirror that serves {ref}, or `docker load -i FILE` an image of "
            f"{ref} for {DOCKER_PLATFORM[arch]}"
        )
        why = f"{where} does not answer for {resolved}"
    else:
        why = f"no registry image for {arch} in the catalog"
    if recipe is not None and recipe.tool == "mmdebstrap":
        why += "; mmdebstrap (its local recipe) is not installed"
        needs.append(f"or install mmdebstrap: {setup_command()}")
    return row(False, why, "; ".join(needs))


def check_all(distros: list[Distro], probe: Probe) -> list[Availability]:
    return [check(d, a, probe) for d in distros for a in d.archs]
