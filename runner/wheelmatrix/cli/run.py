"""`wheelmatrix run [-c FILE] [WHEEL_OR_REQ...] [--resume [RUN]] [--compare OLD]`: a matrix from a
config file (wheelmatrix.yaml, or [tool.wheelmatrix] in pyproject.toml) and/or flags, in a run
directory that remembers: resumable after a kill, comparable with an earlier run."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from wheelmatrix.cli.options import add_matrix_arguments, overrides, report_flags
from wheelmatrix.errors import InputError

if TYPE_CHECKING:
    from wheelmatrix.config.runfile import RunConfig
    from wheelmatrix.service.setup import Plan

HELP = "run a matrix from a config file and/or flags, with a resumable run directory"


def register(sub: Any) -> None:
    p = sub.add_parser("run", help=HELP, description=HELP)
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        metavar="FILE",
        help="wheelmatrix.yaml or pyproject.toml (default: ./wheelmatrix.yaml, else "
        "[tool.wheelmatrix] in ./pyproject.toml, else flags only)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="RUN",
        help="finish a killed or interrupted run: only cells with no result run (RUN: a run "
        "directory or id; default: the latest unfinished run of the same config)",
    )
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (as `wheelmatrix plan --shards N` prints them); the distros "
        "are then the catalog's (or those named), not only those this engine can run",
    )
    add_matrix_arguments(p, inputs_required=False)
    p.set_defaults(func=main, config_discovery=True)


def load_config(args: argparse.Namespace, *, discover: bool) -> RunConfig:
    """The config file (if any), then the command line on top of it."""
    from wheelmatrix.config.runfile import RunConfig, find_config, load_run_config

    path = getattr(args, "config", None)
    if path is None and discover:
        path = find_config(Path.cwd())
    config = load_run_config(path) if path is not None else RunConfig()
    changes = overrides(args)
    if getattr(args, "catalog", None) is not None:
        changes["catalog"] = args.catalog
    reports = dict(report_flags(args))
    if reports:
        changes["reports"] = dataclasses.replace(config.reports, **reports)
    return config.override(**changes)


def main(args: argparse.Namespace, console: Console) -> int:
    return run_matrix(args, console, discover=args.config_discovery)


def run_matrix(args: argparse.Namespace, console: Console, *, discover: bool) -> int:
    from wheelmatrix.backends.docker import connect
    from wheelmatrix.run.rundir import RunDir, load_results
    from wheelmatrix.service.setup import (
        check_report_paths,
        engine_distros,
        execute,
        new_run_id,
        plan_run,
        runs_root,
    )

    config = load_config(args, discover=discover)
    check_report_paths(config)  # a report that cannot be written: exit 2 before anything runs
    baseline = load_results(config.compare) if config.compare is not None else None  # bad path: exit 2 now
    root = runs_root(getattr(args, "runs_dir", None))
    resume = getattr(args, "resume", None)
    if config.fail_on == "regression" and config.compare is None:
        raise InputError(
            "--fail-on regression needs a baseline to compare with",
            hint="add --compare OLD (a JSON report or run directory), or `compare:` in the config file",
        )
    engine: dict[str, Any] = {}

    def runnable_distros(catalog: Any) -> Any:
        engine["client"] = connect(config.engines[0] if config.engines else None)  # inputs checked first
        return engine_distros(engine["client"], config.registry_mirror)(catalog)

    shard = getattr(args, "shard", None)
    if shard is not None:
        import dataclasses

        from wheelmatrix.matrix.shards import parse_shard, shard_cells

        index, total = parse_shard(shard)
        plan = plan_run(config)  # every machine must compute the same matrix: no engine filter
        plan = dataclasses.replace(plan, cells=tuple(shard_cells(list(plan.cells), index, total)))
    else:
        plan = plan_run(config, distro_filter=runnable_distros)
    client = engine.get("client")
    done: list[Any] = []
    skip: frozenset[str] = frozenset()
    if resume is not None:
        run_dir = _find_resume(resume, root, plan)
        state = run_dir.resume_state()  # refuses a run whose runner is still alive
        done = list(state.results)
        skip = frozenset(state.done)
        run_dir.mark("running")  # this process is the run's writer now
        run_dir.log(f"resumed by pid {os.getpid()}: {len(skip)} cells already done")
    else:
        run_dir = RunDir.create(
            root,
            new_run_id(),
            config=_config_json(args, plan),
            config_hash=plan.config_hash,
            cells=[c.id for c in plan.cells],
            source=str(config.source) if config.source else "command line",
        )
    if client is None:
        client = connect(config.engines[0] if config.engines else None)
    outcome = execute(plan, console, client, run_dir, done=done, skip_cells=skip)
    if outcome.interrupted:
        return outcome.exit_code
    from wheelmatrix.run.compare import compare, fail_on_exit, render_text

    comparison = None
    if baseline is not None:
        comparison = compare(baseline.results, outcome.results)
        console.print(render_text(comparison), highlight=False, soft_wrap=True, markup=False)
        (run_dir.path / "compare.json").write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    return fail_on_exit(outcome.results, config.fail_on, comparison)


def _find_resume(resume: str, root: Path, plan: Plan) -> Any:
    from wheelmatrix.run.rundir import RunDir
    from wheelmatrix.run.runs import latest_unfinished

    if resume == "latest":
        found = latest_unfinished(root, plan.config_hash)
        if found is None:
            raise InputError(
                f"no unfinished run of this configuration in {root}",
                hint="`wheelmatrix runs` lists runs; give one with --resume RUN, or run without --resume",
            )
        return found
    path = Path(resume)
    if not path.exists() and (root / resume).exists():
        path = root / resume
    run_dir = RunDir.open(path)
    if run_dir.meta.get("config_hash") != plan.config_hash:
        raise InputError(
            f"run {run_dir.path} was started with a different configuration (inputs, wheels or "
            "matrix changed), so its results cannot be completed with this one",
            hint="resume with the same config file, flags and wheel files, or start a new run",
        )
    if run_dir.state == "finished":
        raise InputError(f"run {run_dir.path} already finished; nothing to resume")
    return run_dir


def _config_json(args: argparse.Namespace, plan: Plan) -> dict[str, Any]:
    return {
        "argv": list(getattr(args, "argv", []) or []),
        "cwd": str(Path.cwd()),
        "config_file": str(plan.config.source) if plan.config.source else None,
        "fingerprint": plan.fingerprint,
    }
