"""The one run set-up shared by `validate` and `run` (and, later, `plan`, `repro`):

    RunConfig -> checked inputs -> matrix (no engine needed when distros are named)
              -> run directory -> scheduler -> diagnosis -> reports -> exit code

Everything the user gave is checked before anything starts; bad input is exit 2 with nothing
started and no run directory written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix import __version__
from wheelmatrix.backends.base import Backend, Connection
from wheelmatrix.config.catalog import Catalog, Distro, load_catalogs
from wheelmatrix.config.known_problems import KnownProblem, default_known_problems_path, load_known_problems
from wheelmatrix.config.runfile import RunConfig, target_selected
from wheelmatrix.config.scenarios import Scenario, default_scenarios_path, load_scenarios
from wheelmatrix.errors import InputError, did_you_mean
from wheelmatrix.findings.diagnose import diagnose, predict_cell, tag_checks
from wheelmatrix.findings.explain import attach
from wheelmatrix.host import cache_dir, host_arch, runnable_archs
from wheelmatrix.inputs.wheels import Project, parse_inputs
from wheelmatrix.matrix.cells import Cell, CompanionSet, Target, build_matrix, select_targets
from wheelmatrix.model import CheckResult, Status, exit_code
from wheelmatrix.reporters import registry
from wheelmatrix.reporters.base import ReportContext, Reporter
from wheelmatrix.reporters.terminal import LiveProgress, render_static, render_table
from wheelmatrix.run.rundir import RunDir
from wheelmatrix.run.stream import ResultLog
from wheelmatrix.scan.policy import WheelScan
from wheelmatrix.scan.wheel import scans_json, static_scans


def runs_root(explicit: Path | None = None) -> Path:
    if explicit is not None:
        return explicit
    env = os.environ.get("WHEELMATRIX_RUNS")
    return Path(env) if env else cache_dir() / "runs"


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A checked, planned run: everything needed to start it, nothing started yet."""

    config: RunConfig
    catalog: Catalog
    scenarios: tuple[Scenario, ...]
    candidates: tuple[Project, ...]
    companions: tuple[Project, ...]
    known: tuple[KnownProblem, ...]
    targets: tuple[Target, ...]
    cells: tuple[Cell, ...]
    scans: dict[str, WheelScan] = field(default_factory=dict)

    @property
    def fingerprint(self) -> dict[str, Any]:
        """What decides the results: the same fingerprint means the same matrix and inputs."""
        c = self.config
        return {
            "candidates": [_project_key(p) for p in self.candidates],
            "companions": [_project_key(p) for p in self.companions],
            "cells": [cell.id for cell in self.cells],
            "installer": c.installer,
            "link_mode": c.link_mode,
            "offline": c.offline,
            "find_links": [str(Path(p).resolve()) for p in c.find_links],
            "timeout_s": c.timeout_s,
            "memory": c.memory,
            "pids": c.pids,
            "gdb": c.gdb,
            "scenarios": [_scenario_key(s) for s in self.scenarios],
        }

    @property
    def config_hash(self) -> str:
        text = json.dumps(self.fingerprint, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _project_key(p: Project) -> Any:
    if p.requirement is not None:
        return p.requirement.text
    return [[w.filename, w.sha256] for w in p.wheels]


def _scenario_key(s: Scenario) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "argv": list(s.argv),
        "requires": list(s.requires),
        "sources": str(s.sources),
    }


def plan_run(
    config: RunConfig,
    *,
    distro_filter: Callable[[Catalog], list[Distro]] | None = None,
    static_scan: bool = True,
) -> Plan:
    """Check every input and build the matrix. Raises InputError before anything starts."""
    catalog = load_catalogs(config.catalog)
    scenarios = config.selected_scenarios(load_scenarios(default_scenarios_path()))
    if not config.candidates:
        raise InputError(
            "no candidates: give wheel files or requirements, or a config file with `candidates:`",
            hint="`wheelmatrix init` writes a starter wheelmatrix.yaml from your dist/ and pyproject.toml",
        )
    candidates = parse_inputs(list(config.candidates), role="candidate")
    companions = parse_inputs(list(config.companions), role="companion")
    overlap = {p.name for p in candidates} & {p.name for p in companions}
    if overlap:
        raise InputError(f"'{', '.join(sorted(overlap))}' is both a candidate and a companion")
    for d in config.find_links:
        if not Path(d).is_dir():
            raise InputError(f"--find-links {d}: not a directory")
    if config.offline and not config.find_links:
        raise InputError("--offline needs at least one --find-links directory")
    for distro_id in config.distros:
        catalog.get(distro_id)
    known = load_known_problems(default_known_problems_path())
    extra_sets = _known_sets(config, known)
    scans = static_scans([*candidates, *companions]) if static_scan else {}
    if config.distros:
        distros = [catalog.get(i) for i in dict.fromkeys(config.distros)]
    elif distro_filter is not None:
        distros = distro_filter(catalog)
    else:
        distros = list(catalog.distros.values())
    if config.gdb:
        distros = [d.with_packages(("gdb",)) for d in distros]
    targets = select_targets(distros, config.archs, config.pythons, host_arch(), runnable_archs())
    kept = [
        t
        for t in targets
        if target_selected(t.distro.id, t.arch, t.distro.python, config.include, config.exclude)
    ]
    if not kept:
        raise InputError(
            "the include/exclude rules leave no distro/arch/Python to run "
            f"(include: {', '.join(config.include) or '-'}; exclude: {', '.join(config.exclude) or '-'})",
            hint="see `wheelmatrix distros` for the ids, archs and Pythons the catalog offers",
        )
    if config.cpus and extra_sets:
        raise InputError(
            "--cpu and --with-known-problems cannot be combined: CPU cells test the candidates' "
            "own instructions",
            hint="run them as two runs",
        )
    cells = build_matrix(kept, scenarios, candidates, companions, extra_sets, config.cpus)
    return Plan(
        config=config,
        catalog=catalog,
        scenarios=tuple(scenarios),
        candidates=tuple(candidates),
        companions=tuple(companions),
        known=tuple(known),
        targets=tuple(kept),
        cells=tuple(cells),
        scans=scans,
    )


def _known_sets(config: RunConfig, known: Sequence[KnownProblem]) -> list[CompanionSet]:
    wanted = tuple(config.known_problems)
    if not wanted:
        return []
    ids = {k.id for k in known}
    if "all" not in wanted:
        for w in wanted:
            if w not in ids:
                raise InputError(
                    f"unknown known-problem set '{w}'{did_you_mean(w, ids)}",
                    hint=f"known sets: {', '.join(sorted(ids))}",
                )
    return [
        CompanionSet(
            name=k.id,
            projects=tuple(parse_inputs(list(k.packages), role=f"known problem {k.id}")),
            imports=k.imports,
            applies=k.applies,
        )
        for k in known
        if "all" in wanted or k.id in wanted
    ]


def engine_distros(
    connection: Connection | None, mirror: str | None = None
) -> Callable[[Catalog], list[Distro]]:
    """The default distro selection: every distro this machine can run on at least one arch
    (its prepared image is here, its image is loaded, it has a local recipe this host can
    build, or the registry answers for it); see wheelmatrix/backends/availability.py."""

    def select(catalog: Catalog) -> list[Distro]:
        from wheelmatrix.backends.availability import Probe, check

        probe = Probe(connection, mirror)
        out = []
        for d in catalog.distros.values():
            rows = [check(d, a, probe) for a in d.archs]
            if any(r.runnable and not r.builds for r in rows):
                out.append(d)
        return out

    return select


@dataclass
class Outcome:
    results: list[CheckResult]
    interrupted: bool
    run_info: dict[str, Any]
    exit_code: int


def execute(
    plan: Plan,
    console: Console,
    connection: Connection,
    run_dir: RunDir,
    *,
    done: Sequence[CheckResult] = (),
    skip_cells: frozenset[str] = frozenset(),
) -> Outcome:
    """Run the planned cells not in `skip_cells`, stream results into the run directory, then
    diagnose everything (the earlier results of a resumed run included) and write reports."""
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.cell.flow import CellOptions
    from wheelmatrix.host import index_settings
    from wheelmatrix.run.engines import EngineSet, cell_flow, engine_options

    config = plan.config
    run_id = run_dir.meta["run_id"]
    todo = [c for c in plan.cells if c.id not in skip_cells]
    jobs = run_jobs(config.jobs)
    options = dataclasses.replace(
        CellOptions.from_config(config, index_settings()),
        on_phase=run_dir.phase,
        check_workers=check_workers(config.jobs, len({c.container_key for c in todo})),
    )
    connections = [connection, *(connect(url) for url in config.engines[1:])]
    engines = [c.open(engine_options(options), run_id) for c in connections]
    backend = EngineSet(
        engines,
        cell_flow(options),
        log=lambda m: console.print(f"[dim]{m}[/]", highlight=False, soft_wrap=True),
        max_warm=jobs,  # each worker's next sandbox starts early
    )
    removed = reaped = 0
    for engine in engines:
        removed += engine.remove_run(run_id)  # a resumed run: containers its dead runner left
        reaped += engine.reap_stale()
    if removed or reaped:
        console.print(
            f"removed {removed + reaped} container(s) left by an earlier run that was killed", style="dim"
        )
    resumed = f", {len(plan.cells) - len(todo)} already done" if skip_cells else ""
    console.print(
        f"wheelmatrix {__version__}: run {run_id}: {len(todo)} cells to run{resumed} "
        f"({len(plan.targets)} distro/arch x {len(plan.scenarios)} scenario), {jobs} in parallel, "
        f"installer {config.installer}" + (f", {len(engines)} engines" if len(engines) > 1 else ""),
        highlight=False,
    )
    console.print(f"run directory: {run_dir.path}", style="dim", highlight=False)
    predictions = [
        {"cell": c.id, "project": pr.project, **pr.finding.to_json()}
        for c in plan.cells
        if c.scenario.kind == "import"
        for pr in predict_cell(c, plan.scans)
    ]
    if predictions and todo:
        console.print("[bold]Predicted before running[/] (from the static scan):")
        for pr in predictions:
            console.print(f"  {pr['cell']}: {pr['project']} {pr['message']}", highlight=False, soft_wrap=True)
    started = time.time()
    log = run_dir.result_log()
    run_dir.log(f"start: {len(todo)} cells, pid {os.getpid()} on {socket.gethostname()}")
    try:
        return _finish(plan, console, run_dir, backend, log, todo, done, skip_cells, started, predictions)
    finally:
        backend.close()  # after the reports: the last containers are removed while they are written


def _finish(
    plan: Plan,
    console: Console,
    run_dir: RunDir,
    backend: Backend,
    log: ResultLog,
    todo: list[Cell],
    done: Sequence[CheckResult],
    skip_cells: frozenset[str],
    started: float,
    predictions: list[dict[str, Any]],
) -> Outcome:
    config = plan.config
    run_id = run_dir.meta["run_id"]
    interrupted = _schedule(todo, backend, run_jobs(config.jobs), log, console, run_dir)
    new = log.results
    log.close()
    order = {c.id: i for i, c in enumerate(plan.cells)}
    results = sorted([*done, *new], key=lambda r: order.get(r.cell_id, len(order)))
    installed, extra = installed_candidates(plan, results, run_dir.log)
    if extra:
        plan = dataclasses.replace(plan, scans={**plan.scans, **extra})
    results = diagnose(list(plan.cells), results, plan.scans, list(plan.known))
    results += tag_checks(list(plan.cells), results, plan.scans, installed)
    results = attach(plan.cells, results, plan.scans)
    results.sort(key=lambda r: order.get(r.cell_id, len(order)))
    run_info: dict[str, Any] = {
        "id": run_id,
        "started": run_dir.meta.get("started", started),
        "duration_s": round(time.time() - started, 3),
        "installer": config.installer,
        "interrupted": interrupted,
        "cells": len(plan.cells),
        "resumed_cells": len(plan.cells) - len(todo) if skip_cells else 0,
        "inputs": list(config.candidates),
        "companions": list(config.companions),
        "config_hash": plan.config_hash,
        "engine": backend.engine,
        "predictions": predictions,
    }
    write_reports(plan, results, run_info, run_dir)
    counts = {s.value: sum(1 for r in results if r.status is s) for s in Status}
    run_dir.mark("interrupted" if interrupted else "finished", counts)
    run_dir.log(f"{'interrupted' if interrupted else 'finished'}: {counts}")
    render_static(console, plan.scans)
    render_table(console, results, verbose=config.verbose)
    if interrupted:
        console.print(f"interrupted: {len(results)} results kept in {run_dir.path}", style="bold")
        console.print(f"resume with: wheelmatrix run --resume {run_dir.path}", style="bold", highlight=False)
    return Outcome(results, interrupted, run_info, 130 if interrupted else exit_code(results))


def installed_candidates(
    plan: Plan, results: Sequence[CheckResult], log: Callable[[str], None]
) -> tuple[dict[str, dict[str, str]], dict[str, WheelScan]]:
    """Candidates given as requirements, judged by the files the cells installed for them:
    ({cell id: {project: wheel file}}, {wheel file: its static scan}). Each file is fetched on
    the host by its recorded sha256 (inputs/fetch.py); one that cannot be fetched is logged and
    left unjudged, never guessed."""
    from packaging.utils import canonicalize_name

    from wheelmatrix.inputs.fetch import FetchError, fetch_wheel
    from wheelmatrix.scan.wheel import scan_file

    wanted = {c.id: {p.project for p in c.candidates if p.wheel is None} for c in plan.cells}
    installed: dict[str, dict[str, str]] = {}
    files: dict[str, str] = {}
    for r in results:
        projects = wanted.get(r.cell_id)
        if not projects:
            continue
        for dist, info in r.installed_wheels.items():
            name, file, sha = canonicalize_name(dist), info.get("file"), info.get("sha256")
            if name in projects and file and sha and not file.endswith("-none-any.whl"):
                installed.setdefault(r.cell_id, {})[name] = file
                files[file] = sha
    scans: dict[str, WheelScan] = {}
    links = tuple(Path(p) for p in plan.config.find_links)
    for file, sha in sorted(files.items()):
        if file in plan.scans:
            continue
        try:
            scans[file] = scan_file(fetch_wheel(file, sha, links), sha)
        except FetchError as exc:
            log(f"static scan of an installed candidate skipped: {exc}")
    return installed, scans


def write_reports(
    plan: Plan, results: Sequence[CheckResult], run_info: dict[str, Any], run_dir: RunDir
) -> None:
    """The run directory always gets report.json; the user's report paths get their files."""
    context = ReportContext(run=run_info, static=scans_json(plan.scans), scans=plan.scans)
    requests = [(registry.get("json"), run_dir.report_path("report.json")), *report_requests(plan.config)]
    registry.write_reports(results, context, requests)


def report_requests(config: RunConfig) -> list[tuple[Reporter, Path]]:
    """The reports the configuration asks for, each with its reporter and path."""
    return [(registry.by_option(option), path) for option, path in config.reports.requested()]


def check_report_paths(config: RunConfig) -> None:
    """Refuse (exit 2) report paths that cannot be written, before a run starts."""
    registry.check_requests(report_requests(config))


def run_jobs(jobs: int | None) -> int:
    """How many containers a run runs at once: --jobs, by default one per core."""
    return jobs or os.cpu_count() or 2


def check_workers(jobs: int | None, containers: int, cpus: int | None = None) -> int:
    """How many checks each container may run at once: the cores left over when the run's
    containers (at most `jobs` at a time) each have one; at most 4. A run that fills every
    core with containers (the default, one job per core, on a matrix as wide) runs them one by
    one; one emulated cell alone on a machine uses its idle cores."""
    cpus = cpus or os.cpu_count() or 1
    running = max(1, min(jobs or cpus, containers))
    return max(1, min(4, cpus // running))


def _schedule(
    cells: list[Cell], backend: Backend, jobs: int, log: ResultLog, console: Console, run_dir: RunDir
) -> bool:
    from wheelmatrix.run.scheduler import Scheduler

    def on_event(kind: str, message: str) -> None:
        progress.event(kind, message)
        if kind in ("cell-done", "image-log", "image-failed", "image-done", "internal-error"):
            run_dir.log(f"{kind}: {message}")
        if kind == "cell-done" and not scheduler.cancelled.is_set():
            log.cell_done(message)  # a cell stopped by Ctrl-C is not done: a resume reruns it

    with LiveProgress(console, len(cells)) as progress:
        scheduler = Scheduler(backend, jobs=jobs, on_result=log.add, on_event=on_event)
        previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            scheduler.run(cells)
            return False
        except KeyboardInterrupt:
            scheduler.cancel()
            backend.close()  # stop the running cells now; the caller closes again after reports
            return True
        except BaseException:
            backend.close()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
