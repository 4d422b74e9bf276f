"""Running a matrix as `run` and `validate` do: plan (narrowed to what the engine can run, or one
shard), a new or resumed run directory, execute, and the comparison with a baseline."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from wheelmatrix.backends.base import Connection
from wheelmatrix.config.catalog import Catalog, Distro
from wheelmatrix.config.runfile import RunConfig
from wheelmatrix.errors import InputError
from wheelmatrix.model import CheckResult
from wheelmatrix.run.rundir import RunDir
from wheelmatrix.service.setup import Plan


def run_matrix(
    config: RunConfig,
    console: Console,
    *,
    runs_dir: Path | None = None,
    resume: str | None = None,
    shard: str | None = None,
    argv: list[str] | None = None,
) -> int:
    """Plan, run and report one matrix; the exit code (`config.fail_on` decides what fails).

    `resume` is a run directory, run id or "latest"; `shard` is "I/N"; `argv` is recorded in the
    run directory's config for `runs` and `repro --from`."""
    from wheelmatrix.backends.factory import connect
    from wheelmatrix.run.rundir import load_results
    from wheelmatrix.service.setup import (
        check_report_paths,
        engine_distros,
        execute,
        new_run_id,
        plan_run,
        runs_root,
    )

    check_report_paths(config)  # a report that cannot be written: exit 2 before anything runs
    baseline = load_results(config.compare) if config.compare is not None else None  # bad path: exit 2 now
    root = runs_root(runs_dir)
    if config.fail_on == "regression" and config.compare is None:
        raise InputError(
            "--fail-on regression needs a baseline to compare with",
            hint="add --compare OLD (a JSON report or run directory), or `compare:` in the config file",
        )
    engine: dict[str, Connection] = {}

    def runnable_distros(catalog: Catalog) -> list[Distro]:
        engine["first"] = connect(config.engines[0] if config.engines else None)  # inputs checked first
        return engine_distros(engine["first"], config.registry_mirror)(catalog)

    if shard is not None:
        from wheelmatrix.matrix.shards import parse_shard, shard_cells

        index, total = parse_shard(shard)
        plan = plan_run(config)  # every machine must compute the same matrix: no engine filter
        plan = dataclasses.replace(plan, cells=tuple(shard_cells(list(plan.cells), index, total)))
    else:
        plan = plan_run(config, distro_filter=runnable_distros)
    done: list[CheckResult] = []
    skip: frozenset[str] = frozenset()
    if resume is not None:
        run_dir = find_resume(resume, root, plan)
        state = run_dir.resume_state()  # refuses a run whose runner is still alive
        done = list(state.results)
        skip = frozenset(state.done)
        run_dir.mark("running")  # this process is the run's writer now
        run_dir.log(f"resumed by pid {os.getpid()}: {len(skip)} cells already done")
    else:
        run_dir = RunDir.create(
            root,
            new_run_id(),
            config=_config_json(argv or [], plan),
            config_hash=plan.config_hash,
            cells=[c.id for c in plan.cells],
            source=str(config.source) if config.source else "command line",
        )
    connection = engine.get("first") or connect(config.engines[0] if config.engines else None)
    outcome = execute(plan, console, connection, run_dir, done=done, skip_cells=skip)
    if outcome.interrupted:
        return outcome.exit_code
    from wheelmatrix.run.compare import compare, fail_on_exit, render_text

    comparison = None
    if baseline is not None:
        comparison = compare(baseline.results, outcome.results)
        console.print(render_text(comparison), highlight=False, soft_wrap=True, markup=False)
        (run_dir.path / "compare.json").write_text(json.dumps(comparison.to_json(), indent=2) + "\n")
    return fail_on_exit(outcome.results, config.fail_on, comparison)


def find_resume(resume: str, root: Path, plan: Plan) -> RunDir:
    """The run directory `--resume RUN` names ("latest": the newest unfinished one of this config)."""
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


def _config_json(argv: list[str], plan: Plan) -> Mapping[str, Any]:
    return {
        "argv": list(argv),
        "cwd": str(Path.cwd()),
        "config_file": str(plan.config.source) if plan.config.source else None,
        "fingerprint": plan.fingerprint,
    }
