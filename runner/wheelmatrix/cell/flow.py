"""One cell's flow: install -> cut the network -> run the scenario -> interpret -> crash evidence.

Written against `Sandbox` (wheelmatrix/backends/base.py), so it knows nothing about Docker: the
backend creates the sandbox (a container), hands it to `CellFlow.run()` and always removes it.
Unit tests drive it with a fake sandbox that answers probe calls from a script.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.checks.imports import ImportCheck, classify, plan_import_checks
from wheelmatrix.cell.checks.symbols import interpret_smoke, native_summary
from wheelmatrix.cell.install import (
    SYMBOLS_PROBE,
    VENV,
    VENV_PYTHON,
    WHEELS_DIR,
    Step,
    classify_install_failure,
    cpu_wrapper_argv,
    find_links_targets,
    install_argv,
    installer_env,
    venv_argv,
)
from wheelmatrix.config.runfile import RunConfig
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import IndexSettings
from wheelmatrix.matrix.cells import Cell, Pick
from wheelmatrix.model import CheckResult, Status, installed_versions
from wheelmatrix.scan.elf import ElfInfo

PROJECT_DIR = "/tmp/wm-project"  # where a pytest scenario's sources are copied ({project})
PYTEST_JUNIT = "/tmp/wm-pytest.xml"


@dataclass(frozen=True, kw_only=True)
class CellOptions:
    """How cells install and run: taken from a RunConfig (where every default lives, once)."""

    installer: str
    link_mode: str
    offline: bool
    find_links: tuple[Path, ...]
    timeout_s: float
    install_timeout_s: float
    memory: str
    pids: int
    index: IndexSettings
    strict_warnings: bool
    registry_mirror: str | None = None

    @functools.cached_property
    def find_links_targets(self) -> list[tuple[str, Path]]:
        """Where each --find-links directory appears in a cell: computed once per run, so the
        mounts and the installer's arguments always agree."""
        return find_links_targets(self.find_links)

    @classmethod
    def from_config(cls, config: RunConfig, index: IndexSettings) -> CellOptions:
        return cls(
            installer=config.installer,
            link_mode=config.link_mode,
            offline=config.offline,
            find_links=tuple(Path(p) for p in config.find_links),
            timeout_s=config.timeout_s,
            install_timeout_s=config.install_timeout_s,
            memory=config.memory,
            pids=config.pids,
            index=index,
            strict_warnings=config.strict_warnings,
            registry_mirror=config.registry_mirror,
        )


def _extra_requirements(cell: Cell) -> list[str]:
    """What a scenario installs besides the picks: pytest and its `requires`."""
    scenario = cell.scenario
    if scenario.kind == "pytest":
        wanted = list(scenario.requires)
        if not any(r.split("[")[0].strip().lower().startswith("pytest") for r in wanted):
            wanted.insert(0, "pytest")
        return wanted
    return []


def installer_for(options: CellOptions, cell: Cell) -> str:
    return options.installer if cell.distro.supports_uv else "pip"


def site_packages(python: str) -> list[str]:
    return [f"{VENV}/lib/python{python}/site-packages", f"{VENV}/lib64/python{python}/site-packages"]


class CellFlow:
    """Runs one cell in a sandbox that is already started; returns its results."""

    def __init__(
        self, cell: Cell, sandbox: Sandbox, options: CellOptions, cancel: threading.Event | None = None
    ) -> None:
        self.cell = cell
        self.sandbox = sandbox
        self.options = options
        self.cancel = cancel or threading.Event()
        self.installer = installer_for(options, cell)
        picks = (*cell.candidates, *cell.companions)
        self.wheels = tuple(p.wheel.filename for p in picks if p.wheel)
        self.wheel_sha256 = {p.wheel.filename: p.wheel.sha256 for p in cell.candidates if p.wheel}
        self.installed: tuple[str, ...] = ()
        self.unshipped: dict[str, list[str]] = {}  # top_level.txt names without files: noted only
        self.oom_seen = 0  # OOM kills in the container already attributed to a check
        self.installed_set: dict[str, Any] = {}  # overlapping files, same-named bundled libraries
        self.commands: dict[str, list[str]] = {}  # distribution -> its commands in the cell
        self.pure_wheels: dict[str, str] = {}  # distributions installed from a none-any wheel
        self.wheel_tags: dict[str, list[str]] = {}  # distribution -> tags of the wheel installed
        self.elf_digests: dict[str, str] = {}  # installed ELF file -> RECORD digest
        self.elf_files: dict[str, list[str]] = {}  # distribution -> its installed ELF files
        self.elf_real: dict[str, str] = {}  # symlinked installs (uv's cache) -> the real file
        self.site_dirs = site_packages(cell.python)
        self.project_dirs: dict[Path, str] = {}  # pytest sources -> where they were copied

    # -- results -------------------------------------------------------------------------------
    def result(
        self,
        check: str,
        status: Status,
        detail: str,
        duration: float = 0.0,
        evidence: Mapping[str, Any] | None = None,
        diagnosis: str = "",
    ) -> CheckResult:
        return CheckResult(
            distro=self.cell.distro.id,
            arch=self.cell.arch,
            python=self.cell.python,
            scenario=self.cell.scenario.name,
            check=check,
            status=status,
            detail=detail,
            duration_s=duration,
            variant=self.cell.variant,
            installer=self.installer,
            wheels=self.wheels,
            evidence={
                **({"unshipped_modules": self.unshipped} if self.unshipped else {}),
                **({"pure_wheels": self.pure_wheels} if self.pure_wheels and status.is_wheel_failure else {}),
                **(evidence or {}),
            },
            diagnosis=diagnosis,
            image=self.sandbox.image_id,
            engine=self.sandbox.engine,
            wheel_sha256=self.wheel_sha256,
            installed=self.installed,
            finished_at=time.time(),
        )

    # -- the flow ------------------------------------------------------------------------------
    def run(self) -> list[CheckResult]:
        """This cell's scenario, after its install."""
        return self.run_group([self.cell])

    def run_group(self, cells: Sequence[Cell]) -> list[CheckResult]:
        """Several scenario cells of one distro/arch/Python/companion set in this one sandbox:
        one install (with every scenario's extra requirements), one network cut, then each
        scenario in turn. Results keep each cell's own scenario (and so its cell id)."""
        try:
            return self._run_group(cells)
        except InfrastructureError as exc:
            return [self.result("run cell", Status.ERROR, exc.message)]

    def _run_group(self, cells: Sequence[Cell]) -> list[CheckResult]:
        installing: list[CheckResult] = []  # refusals and install failures: every scenario's
        self.cell = cells[0]
        extra = list(dict.fromkeys(r for cell in cells for r in _extra_requirements(cell)))
        installed = self.install(installing, extra=extra)

        def each(cell: Cell) -> list[CheckResult]:
            return [dataclasses.replace(r, scenario=cell.scenario.name) for r in installing]

        if installed is None or self.cancel.is_set():
            return [r for cell in cells for r in each(cell)]
        modules, files = installed
        self.project_dirs = {}
        for cell in cells:
            sources = cell.scenario.sources if cell.scenario.kind == "pytest" else None
            if sources is not None and sources not in self.project_dirs:
                target = PROJECT_DIR if not self.project_dirs else f"{PROJECT_DIR}-{len(self.project_dirs)}"
                self.sandbox.put_dir(sources, target)
                self.project_dirs[sources] = target
        self.sandbox.isolate()  # before any package code runs
        results: list[CheckResult] = []
        for cell in cells:
            if self.cancel.is_set():
                break
            self.cell = cell
            results += each(cell) + self._scenario(modules, files)
        return results

    def _scenario(
        self, modules: Mapping[str, Sequence[str]], files: Mapping[str, Sequence[str]]
    ) -> list[CheckResult]:
        kind = self.cell.scenario.kind
        if kind == "symbols":
            return self._run_symbols(modules, files)
        if kind == "command":
            return self._run_command()
        if kind == "pytest":
            return self._run_pytest()
        if kind == "commands":
            return self._run_commands()
        return [*self._installed_set_checks(), *self._installed_wheel_tags(), *self._run_imports(modules)]

    def _installed_wheel_tags(self) -> list[CheckResult]:
        """Requirement candidates have no wheel file on the host: scan the ELF files of the
        wheel the installer picked for this cell (read through the engine, cached by their
        RECORD digest) against that wheel's own tags; an over-claimed tag fails a `tag` check."""
        from packaging.tags import parse_tag

        from wheelmatrix.scan.policy import cell_gaps, judge_files

        versions = installed_versions(self.installed)
        out = []
        for pick in self.cell.candidates:
            paths = self.elf_files.get(pick.project) or []
            tags = self.wheel_tags.get(pick.project) or []
            if pick.wheel is not None or not paths or not tags:
                continue
            infos = tuple(info for info in (self._scan_installed(p) for p in paths) if info is not None)
            platforms = {t.platform for tag in tags for t in parse_tag(tag)}
            version = versions.get(pick.project, "?")
            scan = judge_files(f"{pick.project}=={version}", infos, platforms)
            over = [f for f in scan.findings if f.kind == "over-claimed"]
            if not over:
                continue
            gaps = cell_gaps(scan, self.cell.distro.symbol_versions, self.cell.distro.id)
            diagnosis = (
                "installers trust the tag: a system at the floor it claims installs this wheel and fails "
                "to load it"
            )
            if gaps:
                diagnosis += f"; in this cell: {gaps[0].message}"
            evidence = {"findings": [f.to_json() for f in over], "tags": tags}
            out.append(
                self.result(
                    f"tag {pick.project} {version}", Status.FAILED, over[0].message, 0.0, evidence, diagnosis
                )
            )
        return out

    def _scan_installed(self, path: str) -> ElfInfo | None:
        rel = path
        for d in self.site_dirs:
            if path.startswith(d + "/"):
                rel = path[len(d) + 1 :]
        real = self.elf_real.get(path, path)
        return cached_elf_scan(self.elf_digests.get(path), rel, lambda: self.sandbox.read_file(real))

    def _installed_set_checks(self) -> list[CheckResult]:
        """Across the whole installed set: files written by two distributions (the last one
        installed wins), and bundled libraries of the same name in two wheels (a process shares
        whichever copy loads first)."""
        data = self.installed_set
        if not data:
            return []
        return [
            self.result(*interpret_overlaps(data.get("overlaps") or [], int(data.get("overlap_count") or 0))),
            self.result(*interpret_same_libs(data.get("same_libs") or [])),
        ]

    # -- phase 1: install with network ---------------------------------------------------------
    def install(
        self,
        results: list[CheckResult],
        on_output: Callable[[str], None] | None = None,
        extra: Sequence[str] | None = None,
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]] | None:
        """Create the venv and install every pick (refusals checked first); the installed
        modules and ELF files per distribution, or None with the reason appended to results."""
        opts = self.options
        cell = self.cell
        links = [target for target, _dir in opts.find_links_targets]

        def argv(args: Sequence[str]) -> tuple[str, ...]:
            return install_argv(
                self.installer, args, index=opts.index, find_links=links, offline=opts.offline
            )

        def arg(p: Pick) -> str:
            return f"{WHEELS_DIR}/{p.wheel.filename}" if p.wheel else str(p.requirement)

        steps = [Step(name="venv", argv=venv_argv(self.installer, cell.distro.python_executable))]
        if not cell.distro.supports_uv and not opts.offline:
            # a distro too old for uv ships a pip too old for today's tags (CentOS 7's venv gets
            # pip 9, which predates manylinux2014): the newest pip its Python supports
            steps.append(
                Step(name="pip", argv=(VENV_PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"))
            )
        unfit = cell.unfit
        for pick in unfit:
            steps.append(Step(name=f"refuse:{pick.project}", argv=argv([arg(pick)]), expect_failure=True))
        fit = [p for p in (*cell.candidates, *cell.companions) if p.fits is not False]
        extra = list(extra) if extra is not None else _extra_requirements(cell)
        if fit:
            steps.append(Step(name="install", argv=argv([*(arg(p) for p in fit), *extra])))
        if fit and cell.cpu:
            from wheelmatrix.scan.cpu import level

            model = level(cell.arch, cell.cpu).qemu or ""
            steps.append(Step(name="cpu", argv=cpu_wrapper_argv(cell.distro.python_executable, model)))
        plan = {
            "steps": [
                {"name": s.name, "argv": list(s.argv), "expect_failure": s.expect_failure} for s in steps
            ],
            "env": installer_env(self.installer, opts.index, opts.offline, opts.link_mode),
            "timeout": opts.install_timeout_s,
            "resolve": {"site_packages": self.site_dirs, "dists": [p.project for p in fit], "venv": VENV}
            if fit
            else None,
        }
        records = self.sandbox.probe(
            "install",
            plan,
            user=self.sandbox.install_user,
            budget=opts.install_timeout_s * (len(steps) + 1),
            on_output=on_output,
        )
        by_step = {r["step"]["name"]: r["step"] for r in records if "step" in r}
        venv = by_step.get("venv")
        if venv is None or venv["rc"] != 0:
            detail = (
                "could not create the virtual environment: " + (venv or {}).get("tail", "no output")[-300:]
            )
            results.append(self.result("create venv", Status.ERROR, detail, evidence={"venv": venv}))
            return None
        for pick in unfit:
            rec = by_step.get(f"refuse:{pick.project}")
            if rec is not None:
                results.append(self._refusal(pick, rec))
        if not fit:
            return None
        inst = by_step.get("install")
        names = ", ".join(p.project for p in fit)
        if inst is None:
            results.append(self.result(f"install {names}", Status.ERROR, "the installer did not run"))
            return None
        if inst["rc"] != 0:
            status, detail = classify_install_failure(inst["tail"])
            results.append(
                self.result(
                    f"install {names}", status, detail, inst["duration_s"], {"installer_output": inst["tail"]}
                )
            )
            return None
        cpu = by_step.get("cpu")
        if cell.cpu and (cpu is None or cpu["rc"] != 0):
            detail = (
                f"could not run the venv's Python on QEMU's {cell.cpu} CPU: "
                + (cpu or {}).get("tail", "the step did not run")[-300:]
            )
            results.append(self.result(f"cpu {cell.cpu}", Status.ERROR, detail))
            return None
        resolved = next((r for r in records if "resolved" in r), None)
        if resolved is None or resolved.get("resolved") is None:
            results.append(
                self.result("resolve modules", Status.ERROR, "the probe did not list installed modules")
            )
            return None
        self.installed = tuple(resolved.get("installed") or ())
        self.installed_set = dict(resolved.get("installed_set") or {})
        self.commands = {str(k): list(v) for k, v in (resolved.get("commands") or {}).items()}
        versions = installed_versions(self.installed)
        self.wheel_tags = {str(k): list(v) for k, v in (resolved.get("wheel_tags") or {}).items()}
        self.elf_digests = {str(k): str(v) for k, v in (resolved.get("elf_digests") or {}).items()}
        self.elf_files = {str(k): list(v) for k, v in (resolved.get("files") or {}).items()}
        self.elf_real = {str(k): str(v) for k, v in (resolved.get("elf_real") or {}).items()}
        self.pure_wheels = {
            project: versions.get(project, "?")
            for project, tags in (resolved.get("wheel_tags") or {}).items()
            if tags and all(str(t).endswith("-none-any") for t in tags)
        }
        self.unshipped = {k: list(v) for k, v in (resolved.get("unshipped_modules") or {}).items()}
        return resolved["resolved"], resolved.get("files") or {}

    def _refusal(self, pick: Pick, rec: Mapping[str, Any]) -> CheckResult:
        evidence = {"installer_output": rec["tail"]}
        if rec["rc"] == 0:
            detail = f"prediction said not installable ({pick.reason}) but {self.installer} installed it"
            return self.result(f"install {pick.project}", Status.ERROR, detail, rec["duration_s"], evidence)
        status, said = classify_install_failure(rec["tail"])
        if status is Status.NOT_INSTALLABLE:
            detail = f"{pick.reason}; {said}"
        else:
            detail = f"{pick.reason}; but the installer failed otherwise: {said}"
        return self.result(f"install {pick.project}", status, detail, rec["duration_s"], evidence)

    # -- phase 2: checks, offline, as nobody ---------------------------------------------------
    def _modules(
        self, picks: Sequence[Pick], resolved: Mapping[str, Sequence[str]]
    ) -> list[tuple[str, Sequence[str]]]:
        return [
            (p.project, resolved.get(p.project) or (p.wheel.modules if p.wheel else ()))
            for p in picks
            if p.fits is not False
        ]

    def _groups(
        self, resolved: Mapping[str, Sequence[str]]
    ) -> tuple[list[tuple[str, Sequence[str]]], list[tuple[str, Sequence[str]]]]:
        cands = self._modules(self.cell.candidates, resolved)
        comps = self._modules(self.cell.companions, resolved)
        if self.cell.extra_imports:
            comps.append(("imports", self.cell.extra_imports))
        return cands, comps

    def _run_symbols(
        self, resolved: Mapping[str, Sequence[str]], files: Mapping[str, Sequence[str]]
    ) -> list[CheckResult]:
        opts = self.options
        cands, comps = self._groups(resolved)
        plan = {
            "python": VENV_PYTHON,
            "timeout": opts.timeout_s,
            "site_dirs": self.site_dirs,
            "modules": [m for _p, mods in (*cands, *comps) for m in mods],
            "orders": [
                [m for _p, mods in (*cands, *comps) for m in mods],
                [m for _p, mods in (*comps, *reversed(cands)) for m in mods],
            ],
            "files": {p: list(files.get(p, [])) for p, _m in cands},
            "same_libs": [s for s in self.installed_set.get("same_libs") or [] if s.get("differ")],
        }
        started = time.monotonic()
        records = self.sandbox.probe(
            "smoke", plan, user=self.sandbox.check_user, budget=opts.timeout_s * 3 + 120, script=SYMBOLS_PROBE
        )
        took = time.monotonic() - started
        return [
            self.result(c.check, c.status, c.detail, took, c.evidence, c.diagnosis)
            for c in interpret_smoke([p for p, _m in cands], records, self.site_dirs)
        ]

    def _run_imports(self, resolved: Mapping[str, Sequence[str]]) -> list[CheckResult]:
        opts = self.options
        cands, comps = self._groups(resolved)
        results = [
            self.result(f"import {p}", Status.FAILED, "the installed distribution has no importable module")
            for p, m in (*cands, *comps)
            if not m
        ]
        checks = plan_import_checks(cands, comps)
        if not checks:
            return results
        plan = {
            "python": VENV_PYTHON,
            "timeout": opts.timeout_s,
            "checks": [{"id": c.id, "code": c.code} for c in checks],
        }
        budget = (opts.timeout_s + 15) * len(checks) + 60
        records = self.sandbox.probe("run", plan, user=self.sandbox.check_user, budget=budget)
        by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
        for check in checks:
            results.append(self._import_result(check, by_id.get(check.id)))
        return results

    def _missing(self, check: str) -> CheckResult:
        reason = "stopped" if self.cancel.is_set() else "the probe gave no result (container died?)"
        return self.result(check, Status.ERROR, reason)

    def _import_result(self, check: ImportCheck, rec: Mapping[str, Any] | None) -> CheckResult:
        if rec is None:
            return self._missing(check.text)
        status, detail = classify(rec, self.options.timeout_s)
        evidence: dict[str, Any] = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "modules": list(check.modules),
        }
        warned = import_warnings(rec["tail"]) if status is Status.PASSED else []
        if warned:
            evidence["warnings"] = warned
            detail = f"passed with a warning: {warned[0]}"
            if self.options.strict_warnings:
                status = Status.FAILED
                detail = f"failed on a warning (--strict-warnings): {warned[0]}"
        detail, diagnosis = self._oom(status, rec, detail)
        if status is Status.FAILED and "static TLS block" in rec["tail"] and not self.cancel.is_set():
            diagnosis = self._static_tls(check)
        if not diagnosis and status is Status.CRASHED and not self.cancel.is_set():
            native = self._crash_evidence(check.code)
            evidence["native"] = native
            diagnosis = native_summary(native, self.site_dirs)
        return self.result(check.text, status, detail, rec["duration_s"], evidence, diagnosis)

    STATIC_TLS_TRY = 1 << 20  # bytes of reserve to try with: far above any real need

    def _static_tls(self, check: ImportCheck) -> str:
        """'cannot allocate memory in static TLS block': re-run the import with a larger reserve
        (glibc's tunable), and say whether that is the whole story."""
        from wheelmatrix.cell.checks.symbols import STATIC_TLS_WORKAROUNDS

        tunable = f"glibc.rtld.optional_static_tls={self.STATIC_TLS_TRY}"
        plan = {
            "python": VENV_PYTHON,
            "timeout": self.options.timeout_s,
            "checks": [{"id": check.id, "code": check.code}],
            "env": {"GLIBC_TUNABLES": tunable},
        }
        records = self.sandbox.probe(
            "run", plan, user=self.sandbox.check_user, budget=self.options.timeout_s + 60
        )
        rec = next((r["check"] for r in records if "check" in r), None)
        passed = rec is not None and classify(rec, self.options.timeout_s)[0] is Status.PASSED
        why = (
            "a library of this set uses initial-exec TLS and was loaded by dlopen after start, when "
            "the static TLS block has only the loader's small reserve left"
        )
        verdict = (
            f"with GLIBC_TUNABLES={tunable} the import passes"
            if passed
            else f"with GLIBC_TUNABLES={tunable} it still fails, so more is wrong"
        )
        return f"{why}; {verdict}; workarounds: {STATIC_TLS_WORKAROUNDS}"

    def _oom(self, status: Status, rec: Mapping[str, Any], detail: str) -> tuple[str, str]:
        """(detail, diagnosis) for a SIGKILL by the kernel's OOM killer (not our timeout);
        (detail, "") unchanged otherwise."""
        if status is not Status.CRASHED or rec.get("signal") != "SIGKILL" or rec.get("timed_out"):
            return detail, ""
        try:
            records = self.sandbox.probe("memory", {}, user=self.sandbox.check_user, budget=60)
        except InfrastructureError:
            return detail, ""
        memory: dict[str, Any] = next((r["memory"] for r in records if "memory" in r), {})
        kills = memory.get("oom_kills")
        if not isinstance(kills, int) or kills <= self.oom_seen:
            return detail, ""
        self.oom_seen = kills
        limit = self.options.memory
        return f"SIGKILL: out of memory (limit {limit})", (
            f"killed by the kernel's OOM killer: the container's memory limit ({limit}) was reached; "
            "raise it with --memory (or `memory:` in the config file) if the package needs more"
        )

    def _crash_evidence(self, code: str) -> dict[str, Any]:
        """Re-run a crashed check for native evidence: fault address, gdb, linker bindings."""
        plan = {
            "python": VENV_PYTHON,
            "code": code,
            "timeout": self.options.timeout_s,
            "site_dirs": self.site_dirs,
        }
        budget = self.options.timeout_s * 4 + 60
        records = self.sandbox.probe(
            "crash", plan, user=self.sandbox.check_user, budget=budget, script=SYMBOLS_PROBE
        )
        native: dict[str, Any] = next((r["crash"] for r in records if "crash" in r), {})
        if native:
            native.update(arch=self.cell.arch, cpu=self.cell.cpu)
            self._name_local_function(native)
        return native

    def _name_local_function(self, native: dict[str, Any]) -> None:
        """The dynamic linker names only exported functions: for a fault in a wheel's object
        at an unnamed address, look the offset up in the object's own symbol table."""
        pc = (native.get("fault") or {}).get("pc") or {}
        dso, offset = pc.get("dso"), pc.get("offset")
        if not dso or pc.get("symbol") or not offset or not any(dso.startswith(d) for d in self.site_dirs):
            return
        try:
            from wheelmatrix.scan.elf import function_at

            found = function_at(self.sandbox.read_file(pc.get("real") or dso), int(offset, 16))
        except Exception:  # evidence is best effort: the fault itself is already recorded
            return
        if found is not None:
            pc["symbol"], pc["symbol_offset"] = found[0], hex(found[1])

    # -- command and pytest scenarios ----------------------------------------------------------
    def _exec_env(self) -> dict[str, str]:
        return {
            "PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin",
            "VIRTUAL_ENV": VENV,
            **dict(self.cell.scenario.env),
        }

    def _project_dir(self) -> str:
        sources = self.cell.scenario.sources
        return self.project_dirs.get(sources, PROJECT_DIR) if sources is not None else PROJECT_DIR

    def _timeout(self) -> float:
        return self.cell.scenario.timeout_s or self.options.timeout_s

    def _argv(self, argv: Sequence[str]) -> list[str]:
        out = [a.replace("{project}", self._project_dir()) for a in argv]
        if out and out[0] in ("python", "python3"):
            out[0] = VENV_PYTHON
        return out

    def _exec(self, check_id: str, argv: Sequence[str], junit: str | None = None) -> dict[str, Any] | None:
        cwd = self._project_dir() if self.cell.scenario.sources is not None else "/tmp"
        plan = {
            "timeout": self._timeout(),
            "env": self._exec_env(),
            "checks": [{"id": check_id, "argv": list(argv), "cwd": cwd, "junit": junit}],
        }
        records = self.sandbox.probe("exec", plan, user=self.sandbox.check_user, budget=self._timeout() + 60)
        return next((r["check"] for r in records if "check" in r and r["check"].get("id") == check_id), None)

    def _run_command(self) -> list[CheckResult]:
        argv = self._argv(self.cell.scenario.argv)
        text = "run " + " ".join(self.cell.scenario.argv)
        rec = self._exec("command", argv)
        if rec is None:
            return [self._missing(text)]
        status, detail = classify(rec, self._timeout())
        if status is Status.FAILED:
            detail = f"exit {rec['rc']}: {detail}"
        detail, oom = self._oom(status, rec, detail)
        evidence = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "argv": argv,
        }
        return [self.result(text, status, detail, rec["duration_s"], evidence, oom)]

    def _run_commands(self) -> list[CheckResult]:
        """Each console script and bundled executable of the candidates, with `--version`."""
        paths = [p for pick in self.cell.candidates for p in self.commands.get(pick.project, [])]
        if not paths:
            return [self.result("commands", Status.PASSED, "the candidates ship no command")]
        args = list(self.cell.scenario.argv or ("--version",))
        plan = {
            "timeout": self._timeout(),
            "env": self._exec_env(),
            "checks": [{"id": f"k{i}", "argv": [p, *args], "cwd": "/tmp"} for i, p in enumerate(paths)],
        }
        budget = (self._timeout() + 15) * len(paths) + 60
        records = self.sandbox.probe("exec", plan, user=self.sandbox.check_user, budget=budget)
        by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
        out = []
        for i, path in enumerate(paths):
            text = f"run {posixpath.basename(path)} {' '.join(args)}".strip()
            rec = by_id.get(f"k{i}")
            if rec is None:
                out.append(self._missing(text))
                continue
            status, detail = interpret_command_start(rec, self._timeout())
            evidence = {
                "returncode": rec["rc"],
                "signal": rec["signal"],
                "output_tail": rec["tail"],
                "path": path,
            }
            out.append(self.result(text, status, detail, rec["duration_s"], evidence))
        return out

    def _run_pytest(self) -> list[CheckResult]:
        args = self.cell.scenario.argv or ("{project}",)
        argv = [VENV_PYTHON, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={PYTEST_JUNIT}", "-q"]
        argv += self._argv(args)
        rec = self._exec("pytest", argv, junit=PYTEST_JUNIT)
        if rec is None:
            return [self._missing("pytest")]
        return interpret_pytest(rec, self._timeout(), self.result)


# Import-time messages that say something broke although the import itself succeeded: Python
# warnings, and ABI-mismatch reports that packages print and then swallow.
_WARNING = re.compile(
    r"^(?:\S+:\d+: )?([A-Za-z_.]*Warning: .+)$"
    r"|^(A module that was compiled using NumPy 1\.x cannot be run in)"
    r"|^(Descriptors cannot be created directly\..*)$",
    re.MULTILINE,
)


def import_warnings(output: str) -> list[str]:
    """Warning lines in a passing check's output (first 5), the NumPy 1.x/2 ABI message first."""
    found: list[str] = []
    for m in _WARNING.finditer(output):
        line = next(g for g in m.groups() if g)
        if "NumPy 1.x" in line:
            line = "A module that was compiled using NumPy 1.x cannot be run in NumPy 2"
            found.insert(0, line)
        elif line not in found:
            found.append(line)
    return found[:5]


def interpret_overlaps(
    overlaps: Sequence[Mapping[str, Any]], count: int
) -> tuple[str, Status, str, float, dict[str, Any], str]:
    """(check, status, detail, duration, evidence, diagnosis) for files owned by two dists."""
    evidence: dict[str, Any] = {"overlaps": list(overlaps)}
    if not overlaps:
        return ("installed files", Status.PASSED, "", 0.0, evidence, "")
    differ = [o for o in overlaps if o.get("differ")]
    by_pair: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for o in differ or overlaps:
        by_pair.setdefault(tuple(o["dists"]), []).append(o)
    pair, items = max(by_pair.items(), key=lambda kv: len(kv[1]))
    example = items[0]["path"]
    names = " and ".join(pair)
    if not differ:
        detail = f"{count} file(s) written by more than one distribution, identical ({names}: {example})"
        return ("installed files", Status.PASSED, detail, 0.0, evidence, "")
    winner = items[0].get("on_disk_from") or []
    won = f"; the copy on disk is {winner[0]}'s (the last installed wins)" if winner else ""
    detail = f"{len(differ)} file(s) written by {names} with different contents, e.g. {example}{won}"
    diagnosis = (
        f"{names} install the same files ({example}): whichever is installed last overwrites the other, "
        "so the result depends on install order; install only one of them"
    )
    return ("installed files", Status.FAILED, detail, 0.0, evidence, diagnosis)


def interpret_same_libs(
    same: Sequence[Mapping[str, Any]],
) -> tuple[str, Status, str, float, dict[str, Any], str]:
    """(check, ...) for bundled libraries with the same file name in two distributions."""
    evidence: dict[str, Any] = {"same_libs": list(same)}
    differ = [s for s in same if s.get("differ")]
    if not same:
        return ("bundled library copies", Status.PASSED, "", 0.0, evidence, "")
    if not differ:
        names = ", ".join(s["name"] for s in same[:3])
        detail = f"identical copies of {names} bundled by more than one wheel"
        return ("bundled library copies", Status.PASSED, detail, 0.0, evidence, "")
    first = differ[0]
    copies = " and ".join(f"{dist}'s {path}" for dist, path in first["copies"][:2])
    noun = "library shares" if len(differ) == 1 else "libraries share"
    detail = f"{len(differ)} bundled {noun} a file name but differ: {copies}"
    diagnosis = (
        f"{first['name']} is bundled twice with different contents ({copies}); the dynamic linker loads one "
        "copy per name, so both wheels get whichever loads first"
    )
    return ("bundled library copies", Status.FAILED, detail, 0.0, evidence, diagnosis)


class _Unreadable(Exception):
    """The installed file could not be read or parsed: no scan (not cached)."""


def cached_elf_scan(digest: str | None, rel: str, read: Callable[[], bytes]) -> ElfInfo | None:
    """scan_elf of an installed file, cached on disk by its RECORD digest and the scanner."""
    from wheelmatrix.scan.cache import cached
    from wheelmatrix.scan.elf import scan_elf

    def scan() -> ElfInfo:
        try:
            return scan_elf(rel, read())
        except (ELFError, OverflowError, ValueError, InfrastructureError) as exc:
            raise _Unreadable(str(exc)) from None

    try:
        info = cached("elf-scans", digest, ElfInfo, scan) if digest else scan()
    except _Unreadable:
        return None
    return dataclasses.replace(info, path=rel) if info.path != rel else info


_CANNOT_START = re.compile(
    r"error while loading shared libraries.*|version `[^']+' not found.*|cannot execute binary file.*"
    r"|Exec format error.*|Error relocating .*|Error loading shared library .*|symbol lookup error.*"
)


def interpret_command_start(rec: Mapping[str, Any], timeout_s: float) -> tuple[Status, str]:
    """Did the command start? A loader error, 126/127, a signal or a hang fail it; any other
    exit status passes (the program ran; it may not know `--version`)."""
    if rec.get("timed_out") or rec.get("signal"):
        return classify(rec, timeout_s)
    output = str(rec.get("tail") or "")
    m = _CANNOT_START.search(output)
    if m is not None:
        return Status.FAILED, f"cannot start: {m.group(0).strip()[:300]}"
    rc = rec.get("rc")
    if rc in (126, 127):
        return Status.FAILED, f"cannot start (exit {rc}): {last_line(output)}"
    if rc == 0:
        return Status.PASSED, last_line(output)[:200] if output.strip() else ""
    return Status.PASSED, f"started; exit {rc} (it may not take these arguments): {last_line(output)[:200]}"


def interpret_pytest(rec: Mapping[str, Any], timeout_s: float, make: Any) -> list[CheckResult]:
    """One summary check `pytest`, plus one check per failing test named by its node id."""
    tests = rec.get("tests")
    evidence: dict[str, Any] = {"returncode": rec["rc"], "signal": rec["signal"], "output_tail": rec["tail"]}
    if rec.get("timed_out") or rec.get("signal"):
        status, detail = classify(rec, timeout_s)
        return [make("pytest", status, detail, rec["duration_s"], evidence)]
    if tests is None:
        # pytest never wrote its report: it could not start (usage error, import error in conftest)
        status = Status.PASSED if rec["rc"] == 0 else Status.FAILED
        detail = "" if rec["rc"] == 0 else f"pytest exit {rec['rc']}: {last_line(rec['tail'])}"
        return [make("pytest", status, detail, rec["duration_s"], evidence)]
    failing = [t for t in tests if t["outcome"] in ("failed", "error")]
    counts = {k: sum(1 for t in tests if t["outcome"] == k) for k in ("passed", "failed", "error", "skipped")}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    evidence["tests"] = counts
    out: list[CheckResult] = []
    if rec["rc"] == 0:
        out.append(make("pytest", Status.PASSED, summary, rec["duration_s"], evidence))
    elif rec["rc"] == 5 and not tests:
        out.append(make("pytest", Status.FAILED, "pytest collected no test", rec["duration_s"], evidence))
    else:
        first = node_id(failing[0]) if failing else f"exit {rec['rc']}"
        out.append(make("pytest", Status.FAILED, f"{summary}; first: {first}", rec["duration_s"], evidence))
    for t in failing:
        out.append(
            make(
                f"pytest {node_id(t)}",
                Status.FAILED,
                t["message"] or t["outcome"],
                0.0,
                {"outcome": t["outcome"]},
            )
        )
    return out


def node_id(case: Mapping[str, str]) -> str:
    """pytest's node id from a JUnit test case (classname 'tests.test_x.TestY', name 'test_z')."""
    classname, name = case.get("classname", ""), case.get("name", "")
    parts = classname.split(".")
    # The module is the longest dotted prefix; pytest's junit has no file attribute by default.
    for i in range(len(parts), 0, -1):
        if parts[i - 1].startswith("test") or i == 1:
            module = "/".join(parts[:i]) + ".py"
            rest = parts[i:]
            return "::".join([module, *rest, name])
    return name


def last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
