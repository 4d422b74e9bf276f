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
    # for rows that cannot run: the cause and its fix as every row it stops shares them, and what
    # of this row it concerns (an image reference): `causes` groups the rows by them
    cause: str = ""
    cause_fix: str = ""
    subject: str = ""


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One reason rows cannot run, the rows it stops and what of them it concerns."""

    text: str
    fix: str
    rows: tuple[Availability, ...]

    @property
    def subjects(self) -> list[str]:
        return list(dict.fromkeys(r.subject for r in self.rows if r.subject))

    def line(self) -> str:
        """One line for the cause: the rows it stops, the images they need, the fix."""
        rows = f"{len(self.rows)} row{'s' if len(self.rows) != 1 else ''} ({', '.join(self.labels)})"
        images = f"; images {', '.join(self.subjects)}" if self.subjects else ""
        return f"{self.text}: {rows}{images}" + (f"; fix: {self.fix}" if self.fix else "")

    @property
    def labels(self) -> list[str]:
        """The rows as distro ids, with the arch only where not every arch of it is stopped."""
        by: dict[str, list[str]] = {}
        for r in self.rows:
            by.setdefault(r.distro, []).append(r.arch)
        return [d if len(archs) > 1 else f"{d}/{archs[0]}" for d, archs in by.items()]


def causes(rows: list[Availability]) -> list[Cause]:
    """The rows that cannot run, grouped by cause (in the order the causes first appear)."""
    groups: dict[tuple[str, str], list[Availability]] = {}
    for r in rows:
        if not r.runnable:
            groups.setdefault((r.cause or r.how, r.cause_fix or r.fix), []).append(r)
    return [Cause(text=text, fix=fix, rows=tuple(group)) for (text, fix), group in groups.items()]


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
    def row(
        runnable: bool,
        how: str,
        fix: str = "",
        builds: bool = False,
        *,
        cause: str = "",
        cause_fix: str = "",
        subject: str = "",
    ) -> Availability:
        return Availability(
            distro=distro.id,
            arch=arch,
            runnable=runnable,
            how=how,
            fix=fix,
            builds=builds,
            cause=cause,
            cause_fix=cause_fix,
            subject=subject,
        )

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
    needs, general = [], []
    if resolved:
        where = f"the mirror {probe.mirror}" if probe.mirror else "the engine's registry"
        needs.append(
            f"set {REGISTRY_MIRROR_ENV} to a mirror that serves {ref}, or `docker load -i FILE` an image of "
            f"{ref} for {DOCKER_PLATFORM[arch]}"
        )
        general.append(
            f"set {REGISTRY_MIRROR_ENV} to a mirror that serves these images, or `docker load -i FILE` "
            "an image of each for its platform"
        )
        why, cause, subject = f"{where} does not answer for {resolved}", f"{where} does not answer", resolved
    else:
        why = cause = f"no registry image for {arch} in the catalog"
        subject = ""
    if recipe is not None and recipe.tool == "mmdebstrap":
        why += "; mmdebstrap (its local recipe) is not installed"
        cause += "; mmdebstrap (their local recipe) is not installed"
        needs.append(f"or install mmdebstrap: {setup_command()}")
        general.append(f"or install mmdebstrap: {setup_command()}")
    return row(False, why, "; ".join(needs), cause=cause, cause_fix="; ".join(general), subject=subject)


def check_all(distros: list[Distro], probe: Probe) -> list[Availability]:
    return [check(d, a, probe) for d in distros for a in d.archs]
