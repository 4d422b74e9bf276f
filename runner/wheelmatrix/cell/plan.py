"""The install phase: the plan the install probe runs (venv, refusals, install, CPU wrapper) and
how its records become what the scenario runners read (`Installed`) or install failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wheelmatrix.cell.install import (
    UV_CACHE,
    VENV,
    VENV_PYTHON,
    WHEELS_DIR,
    Step,
    classify_install_failure,
    cpu_wrapper_argv,
    install_argv,
    installer_env,
    venv_argv,
)
from wheelmatrix.cell.options import CellOptions
from wheelmatrix.matrix.cells import Cell, Pick
from wheelmatrix.model import CheckResult, Status, installed_versions

PIP_REPORT = "/tmp/wm-pip-report.json"  # pip install --report, read by the install probe
ModuleGroup = tuple[str, Sequence[str]]  # a project and its importable modules


class MakeResult(Protocol):
    """Makes one of the cell's check results (CellFlow.result): the cell's identity added."""

    def __call__(
        self,
        check: str,
        status: Status,
        detail: str,
        duration: float = 0.0,
        evidence: Mapping[str, Any] | None = None,
        diagnosis: str = "",
    ) -> CheckResult: ...


@dataclass(frozen=True, kw_only=True)
class Installed:
    """What the install left in the cell, as the probe resolved it (empty before the install)."""

    modules: Mapping[str, Sequence[str]] = field(default_factory=dict)  # distribution -> modules
    files: dict[str, list[str]] = field(default_factory=dict)  # distribution -> its ELF files
    dists: tuple[str, ...] = ()  # name==version of every installed distribution
    installed_set: dict[str, Any] = field(default_factory=dict)  # overlapping files, same-named libs
    commands: dict[str, list[str]] = field(default_factory=dict)  # distribution -> its commands
    pure_wheels: dict[str, str] = field(default_factory=dict)  # distributions from a none-any wheel
    wheel_tags: dict[str, list[str]] = field(default_factory=dict)  # distribution -> wheel's tags
    elf_digests: dict[str, str] = field(default_factory=dict)  # installed ELF file -> RECORD digest
    elf_real: dict[str, str] = field(default_factory=dict)  # symlinked installs (uv's cache) -> file
    unshipped: dict[str, list[str]] = field(default_factory=dict)  # top_level.txt names, no files
    # distribution -> the wheel file the installer used: file, tag, sha256 (None: no_hash says
    # why), source (local-file, pip-report, uv-cache or dist-info)
    picked: dict[str, dict[str, Any]] = field(default_factory=dict)

    def module_groups(self, cell: Cell) -> tuple[list[ModuleGroup], list[ModuleGroup]]:
        """(project, modules) of the installed candidates, and of the companions plus the cell's
        extra imports, in the user's order (a wheel's own module list where none resolved)."""

        def groups(picks: Sequence[Pick]) -> list[ModuleGroup]:
            return [
                (p.project, self.modules.get(p.project) or (p.wheel.modules if p.wheel else ()))
                for p in picks
                if p.fits is not False
            ]

        cands, comps = groups(cell.candidates), groups(cell.companions)
        if cell.extra_imports:
            comps.append(("imports", cell.extra_imports))
        return cands, comps

    @classmethod
    def from_record(
        cls, resolved: Mapping[str, Any], local_sha256: Mapping[str, str] | None = None
    ) -> Installed:
        """The probe's `resolved` record (its `resolved` key set); `local_sha256` (candidate
        wheel file -> sha256, known on the host) fills the hash of a wheel installed from a file."""
        versions = installed_versions(tuple(resolved.get("installed") or ()))
        return cls(
            modules=resolved["resolved"],
            files={str(k): list(v) for k, v in (resolved.get("files") or {}).items()},
            dists=tuple(resolved.get("installed") or ()),
            installed_set=dict(resolved.get("installed_set") or {}),
            commands={str(k): list(v) for k, v in (resolved.get("commands") or {}).items()},
            pure_wheels={
                project: versions.get(project, "?")
                for project, tags in (resolved.get("wheel_tags") or {}).items()
                if tags and all(str(t).endswith("-none-any") for t in tags)
            },
            wheel_tags={str(k): list(v) for k, v in (resolved.get("wheel_tags") or {}).items()},
            elf_digests={str(k): str(v) for k, v in (resolved.get("elf_digests") or {}).items()},
            elf_real={str(k): str(v) for k, v in (resolved.get("elf_real") or {}).items()},
            unshipped={k: list(v) for k, v in (resolved.get("unshipped_modules") or {}).items()},
            picked=picked_wheels(resolved.get("installed_wheels") or {}, local_sha256 or {}),
        )


def picked_wheels(raw: Mapping[str, Any], local_sha256: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The probe's `installed_wheels`, each entry checked for shape; a local file's missing
    hash taken from the host's own digest of that candidate file."""
    out: dict[str, dict[str, Any]] = {}
    for dist, entry in raw.items():
        if not isinstance(entry, Mapping) or not entry.get("file"):
            continue
        got: dict[str, Any] = {k: str(entry[k]) for k in ("file", "tag", "source", "no_hash") if entry.get(k)}
        sha = entry.get("sha256") or None
        if sha is None and got.get("source") == "local-file" and got["file"] in local_sha256:
            sha = local_sha256[got["file"]]
            got.pop("no_hash", None)
        got["sha256"] = str(sha) if sha else None
        if got["sha256"] is None and "no_hash" not in got:
            got["no_hash"] = "the installer recorded no hash"
        out[str(dist)] = got
    return out


@dataclass(frozen=True, kw_only=True)
class InstallPlan:
    cell: Cell
    installer: str
    steps: tuple[Step, ...]
    fit: tuple[Pick, ...]  # installed together
    unfit: tuple[Pick, ...]  # predicted not installable: each tried alone, expected to fail
    probe_plan: dict[str, Any]  # what the install probe is sent
    budget: float


def plan_install(
    cell: Cell, options: CellOptions, installer: str, site_dirs: Sequence[str], extra: Sequence[str]
) -> InstallPlan:
    """Create the venv and install every pick (refusals tried first), with `extra` requirements."""
    links = [target for target, _dir in options.find_links_targets]

    def argv(args: Sequence[str]) -> tuple[str, ...]:
        return install_argv(installer, args, index=options.index, find_links=links, offline=options.offline)

    def arg(p: Pick) -> str:
        return f"{WHEELS_DIR}/{p.wheel.filename}" if p.wheel else str(p.requirement)

    steps = [Step(name="venv", argv=venv_argv(installer, cell.distro.python_executable))]
    if not cell.distro.supports_uv and not options.offline:
        # a distro too old for uv ships a pip too old for today's tags (CentOS 7's venv gets
        # pip 9, which predates manylinux2014): the newest pip its Python supports
        steps.append(Step(name="pip", argv=(VENV_PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip")))
    unfit = cell.unfit
    for pick in unfit:
        steps.append(Step(name=f"refuse:{pick.project}", argv=argv([arg(pick)]), expect_failure=True))
    fit = tuple(p for p in (*cell.candidates, *cell.companions) if p.fits is not False)
    if fit:
        steps.append(Step(name="install", argv=argv([*(arg(p) for p in fit), *extra])))
    if fit and cell.cpu:
        from wheelmatrix.scan.cpu import level

        model = level(cell.arch, cell.cpu).qemu or ""
        steps.append(Step(name="cpu", argv=cpu_wrapper_argv(cell.distro.python_executable, model)))
    report = PIP_REPORT if installer == "pip" else None
    probe_plan = {
        "steps": [
            {
                "name": s.name,
                "argv": list(s.argv),
                "expect_failure": s.expect_failure,
                **({"pip_report": report} if report and s.name == "install" else {}),
            }
            for s in steps
        ],
        "env": installer_env(installer, options.index, options.offline, options.link_mode),
        "timeout": options.install_timeout_s,
        "resolve": {
            "site_packages": list(site_dirs),
            "dists": [p.project for p in fit],
            "venv": VENV,
            "uv_cache": UV_CACHE if installer == "uv" else None,
            "pip_report": report,
        }
        if fit
        else None,
    }
    return InstallPlan(
        cell=cell,
        installer=installer,
        steps=tuple(steps),
        fit=fit,
        unfit=unfit,
        probe_plan=probe_plan,
        budget=options.install_timeout_s * (len(steps) + 1),
    )


def read_install(
    plan: InstallPlan, records: Sequence[Mapping[str, Any]], make: MakeResult, results: list[CheckResult]
) -> Installed | None:
    """What was installed, or None with the reason appended to results (refusals always are)."""
    cell = plan.cell
    by_step = {r["step"]["name"]: r["step"] for r in records if "step" in r}
    venv = by_step.get("venv")
    if venv is None or venv["rc"] != 0:
        detail = "could not create the virtual environment: " + (venv or {}).get("tail", "no output")[-300:]
        results.append(make("create venv", Status.ERROR, detail, evidence={"venv": venv}))
        return None
    for pick in plan.unfit:
        rec = by_step.get(f"refuse:{pick.project}")
        if rec is not None:
            results.append(_refusal(pick, rec, plan.installer, make))
    if not plan.fit:
        return None
    inst = by_step.get("install")
    names = ", ".join(p.project for p in plan.fit)
    if inst is None:
        results.append(make(f"install {names}", Status.ERROR, "the installer did not run"))
        return None
    if inst["rc"] != 0:
        status, detail = classify_install_failure(inst["tail"])
        evidence = {"installer_output": inst["tail"]}
        results.append(make(f"install {names}", status, detail, inst["duration_s"], evidence))
        return None
    cpu = by_step.get("cpu")
    if cell.cpu and (cpu is None or cpu["rc"] != 0):
        detail = (
            f"could not run the venv's Python on QEMU's {cell.cpu} CPU: "
            + (cpu or {}).get("tail", "the step did not run")[-300:]
        )
        results.append(make(f"cpu {cell.cpu}", Status.ERROR, detail))
        return None
    resolved = next((r for r in records if "resolved" in r), None)
    if resolved is None or resolved.get("resolved") is None:
        results.append(make("resolve modules", Status.ERROR, "the probe did not list installed modules"))
        return None
    local = {p.wheel.filename: p.wheel.sha256 for p in plan.fit if p.wheel and p.wheel.sha256}
    return Installed.from_record(resolved, local)


def _refusal(pick: Pick, rec: Mapping[str, Any], installer: str, make: MakeResult) -> CheckResult:
    evidence = {"installer_output": rec["tail"]}
    if rec["rc"] == 0:
        detail = f"prediction said not installable ({pick.reason}) but {installer} installed it"
        return make(f"install {pick.project}", Status.ERROR, detail, rec["duration_s"], evidence)
    status, said = classify_install_failure(rec["tail"])
    if status is Status.NOT_INSTALLABLE:
        detail = f"{pick.reason}; {said}"
    else:
        detail = f"{pick.reason}; but the installer failed otherwise: {said}"
    return make(f"install {pick.project}", status, detail, rec["duration_s"], evidence)
