"""The matrix: cells of distro x arch x Python x scenario, with predicted installability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wheelmatrix.config.catalog import Distro, Libc
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import InputError
from wheelmatrix.inputs.wheels import Project, WheelFile
from wheelmatrix.matrix.tags import describe_tags, pick_wheel, platform_tags, tag_ranks
from wheelmatrix.model import cell_id


@dataclass(frozen=True, kw_only=True)
class Pick:
    """What gets installed for one project in one cell, and what we predicted about it."""

    project: str
    wheel: WheelFile | None = None
    requirement: str | None = None
    fits: bool | None = None  # None: cannot tell before installing (a requirement)
    reason: str = ""

    @property
    def install_arg(self) -> str:
        """The wheel's file name or the requirement text (the host maps files to mounts)."""
        if self.wheel is not None:
            return self.wheel.filename
        assert self.requirement is not None
        return self.requirement


@dataclass(frozen=True, kw_only=True)
class Cell:
    distro: Distro
    arch: str
    scenario: Scenario
    emulated: bool
    candidates: tuple[Pick, ...]
    companions: tuple[Pick, ...] = ()
    variant: str = ""  # a known-problem set added as companions (--with-known-problems)
    baseline: bool = False  # the set alone, without the candidates: what fails without them
    extra_imports: tuple[str, ...] = ()  # submodules that set wants imported too
    cpu: str = ""  # a CPU level (--cpu): the cell's Python runs on QEMU's model of it

    @property
    def python(self) -> str:
        return self.distro.python

    @property
    def image_key(self) -> tuple[str, str]:
        return (self.distro.id, self.arch)

    @property
    def id(self) -> str:
        """Stable cell id: distro/arch/pyX.Y/scenario[+variant] (the results carry it too)."""
        return cell_id(self.distro.id, self.arch, self.python, self.scenario.name, self.variant)

    @property
    def container_key(self) -> tuple[str, str, str, str, bool, bool]:
        """Cells with the same key share one container and one install (their scenarios run
        one after another in it); a scenario that keeps the network gets its own."""
        return (self.distro.id, self.arch, self.python, self.variant, self.baseline, self.scenario.network)

    @property
    def label(self) -> str:
        return self.id

    @property
    def unfit(self) -> tuple[Pick, ...]:
        """Picks predicted not installable (candidates and companions)."""
        return tuple(p for p in (*self.candidates, *self.companions) if p.fits is False)


def predict(project: Project, distro: Distro, arch: str) -> Pick:
    if project.requirement is not None:
        return Pick(project=project.name, requirement=project.requirement.text, fits=None)
    chosen = pick_wheel(project.wheels, tag_ranks(distro.python_version, distro.libc, arch))
    if chosen is not None:
        return Pick(project=project.name, wheel=chosen, fits=True, reason=f"picked {chosen.filename}")
    wants = f"cp{distro.python.replace('.', '')}, {platform_tags(distro.libc, arch)[0]} or older"
    has = "; ".join(describe_tags(w) for w in project.wheels)
    # The installer is still asked, to confirm the prediction; give it the closest wheel.
    return Pick(
        project=project.name,
        wheel=project.wheels[0],
        fits=False,
        reason=f"no wheel of {project.name} fits {wants} (has: {has})",
    )


@dataclass(frozen=True, kw_only=True)
class Target:
    distro: Distro
    arch: str
    emulated: bool


def select_targets(
    distros: Sequence[Distro],
    archs: Sequence[str],
    pythons: Sequence[str],
    host_arch: str,
    runnable_archs: Sequence[str],
) -> list[Target]:
    """Distro x arch pairs to run; explicit choices that cannot run are input errors."""
    targets: list[Target] = []
    for distro in distros:
        if pythons and distro.python not in pythons:
            continue
        for arch in archs or distro.archs:
            if arch not in distro.archs:
                if archs:
                    continue
                raise InputError(f"{distro.id} has no {arch} image in the catalog")
            if arch not in runnable_archs:
                if archs:
                    raise InputError(
                        f"this machine cannot run {arch} containers (no native support, no emulation)",
                        hint="run `wheelmatrix doctor` for the command that enables QEMU emulation",
                    )
                continue
            targets.append(Target(distro=distro, arch=arch, emulated=arch != host_arch))
    if not targets:
        raise InputError(
            "the selection is empty: no distro/arch/Python combination matches "
            f"(distros: {', '.join(d.id for d in distros)}; archs: {', '.join(archs) or 'any'}; "
            f"pythons: {', '.join(pythons) or 'any'})",
            hint="see `wheelmatrix distros` for what the catalog offers",
        )
    return targets


@dataclass(frozen=True, kw_only=True)
class CompanionSet:
    """Extra companions for some cells: a known-problem set, where it applies."""

    name: str
    projects: tuple[Project, ...]
    imports: tuple[str, ...] = ()
    applies: Callable[[Distro, str], bool] = lambda distro, arch: True


def build_matrix(
    targets: Sequence[Target],
    scenarios: Sequence[Scenario],
    candidates: Sequence[Project],
    companions: Sequence[Project] = (),
    extra_sets: Sequence[CompanionSet] = (),
    cpus: Sequence[str] = (),
) -> list[Cell]:
    """Cells: target x scenario, plus target x scenario x each applicable extra set. With CPU
    levels, the targets of an arch that has levels among them run once per level instead
    (variant `cpu-LEVEL`), without the extra sets."""
    cells: list[Cell] = []
    # Many targets share a (Python, libc, arch): predict each project once per triple.
    memo: dict[tuple[int, tuple[int, int], Libc, str], Pick] = {}

    def predicted(project: Project, distro: Distro, arch: str) -> Pick:
        key = (id(project), distro.python_version, distro.libc, arch)
        if key not in memo:
            memo[key] = predict(project, distro, arch)
        return memo[key]

    from wheelmatrix.scan.cpu import arch_of

    for target in targets:
        cand = tuple(predicted(p, target.distro, target.arch) for p in candidates)
        levels = [c for c in cpus if arch_of(c) == target.arch]
        if levels:
            comp = tuple(predicted(p, target.distro, target.arch) for p in companions)
            for level in levels:
                for scenario in scenarios:
                    cells.append(
                        Cell(
                            distro=target.distro,
                            arch=target.arch,
                            scenario=scenario,
                            emulated=True,
                            candidates=cand,
                            companions=comp,
                            variant=f"cpu-{level}",
                            cpu=level,
                        )
                    )
            continue
        variants: list[tuple[str, Sequence[Project], tuple[str, ...]]] = [("", companions, ())]
        for extra in extra_sets:
            if extra.applies(target.distro, target.arch):
                names = {p.name for p in extra.projects}
                # the set's own pins replace the user's companions of the same projects
                merged = [p for p in companions if p.name not in names] + list(extra.projects)
                variants.append(
                    (
                        extra.name,
                        [p for p in merged if p.name not in {c.name for c in candidates}],
                        extra.imports,
                    )
                )
        for extra in extra_sets:
            # Each applicable set once without the candidates, as a baseline: a failure the
            # set shows on its own is the set's (status `known`), not the candidates'.
            if extra.applies(target.distro, target.arch) and any(s.kind == "import" for s in scenarios):
                base_scenario = next(s for s in scenarios if s.kind == "import")
                cells.append(
                    Cell(
                        distro=target.distro,
                        arch=target.arch,
                        scenario=base_scenario,
                        emulated=target.emulated,
                        candidates=(),
                        companions=tuple(predicted(p, target.distro, target.arch) for p in extra.projects),
                        variant=f"{extra.name}.baseline",
                        extra_imports=extra.imports,
                        baseline=True,
                    )
                )
        for variant, comps, imports in variants:
            comp = tuple(predicted(p, target.distro, target.arch) for p in comps)
            for scenario in scenarios:
                cells.append(
                    Cell(
                        distro=target.distro,
                        arch=target.arch,
                        scenario=scenario,
                        emulated=target.emulated,
                        candidates=cand,
                        companions=comp,
                        variant=variant,
                        extra_imports=imports,
                    )
                )
    return cells
