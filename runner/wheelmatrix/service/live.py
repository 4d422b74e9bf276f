"""One cell, live: a matrix cell's sandbox, prepared once, in which commands run with their
output streamed. Used by `repro` (and its `--shell`), `minimize` and `bisect`.

The cell is planned by the same run set-up as `validate` (wheelmatrix/cli/runsetup.py) and installed
by the same cell flow (wheelmatrix/cell/flow.py), so what runs here is what the matrix runs; the result of
a command is interpreted and diagnosed by the same code as a matrix check.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wheelmatrix.backends.base import Connection, Engine, Sandbox
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.install import VENV, VENV_PYTHON
from wheelmatrix.config.runfile import RunConfig
from wheelmatrix.errors import InfrastructureError, InputError
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.model import CheckResult, Status
from wheelmatrix.service.setup import Plan, new_run_id, plan_run

Output = Callable[[str], None]
EXIT_TIMED_OUT = 124  # as coreutils' timeout


@dataclass(frozen=True)
class Outcome:
    """One run of a command in the cell."""

    status: Status
    detail: str
    rc: int | None
    signal: str | None
    timed_out: bool
    tail: str
    duration_s: float

    @property
    def exit_code(self) -> int:
        """The command's exit code as a shell reports it: 128+N for signal N."""
        if self.timed_out:
            return EXIT_TIMED_OUT
        if self.rc is not None and self.rc < 0:
            return 128 - self.rc
        return int(self.rc or 0)

    @property
    def failed(self) -> bool:
        return self.status is not Status.PASSED

    @property
    def signature(self) -> str:
        """How it failed, for "fails the same way": the status and the signal or exception type."""
        if self.status is Status.CRASHED:
            return f"crashed ({self.signal})"
        if self.status is Status.FAILED:
            m = re.match(r"([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning))\b", self.detail)
            return f"failed ({m.group(1)})" if m else f"failed (exit {self.rc})"
        return str(self.status.value).replace("-", " ")


def import_code(modules: Sequence[str]) -> str:
    return "\n".join(f"import {m}" for m in modules)


def import_argv(modules: Sequence[str]) -> list[str]:
    return [VENV_PYTHON, "-X", "faulthandler", "-c", import_code(modules)]


def one_cell_config(config: RunConfig, distro: str, arch: str, python: str | None) -> RunConfig:
    """`config` narrowed to one distro/arch/Python with the import scenario only."""
    return config.override(
        distros=(distro,),
        archs=(arch,),
        pythons=(python,) if python else (),
        include=(),
        exclude=(),
        known_problems=(),
        scenario_names=("import",),
        scenarios=(),
    )


def engine_of(plan: Plan) -> str | None:
    """The engine a one-cell command uses: the first --engine given, else DOCKER_HOST/local."""
    return plan.config.engines[0] if plan.config.engines else None


def single_cell(config: RunConfig, *, static_scan: bool = True) -> tuple[Plan, Cell]:
    """Plan the one cell `config` selects (see one_cell_config); InputError if it selects none."""
    plan = plan_run(config, static_scan=static_scan)
    cells = [c for c in plan.cells if not c.variant or c.cpu]  # a CPU level is still one cell
    if len(cells) > 1 and all(c.cpu for c in cells):
        raise InputError(
            f"one cell runs at one CPU level: give a single --cpu (got {', '.join(c.cpu for c in cells)})"
        )
    if len(cells) != 1:
        want = f"{'/'.join(config.distros)} {'/'.join(config.archs)} {' '.join(config.pythons)}".strip()
        raise InputError(
            f"{want}: not one cell of the catalog (found {len(cells)})",
            hint="`wheelmatrix distros` lists each distro's archs and Python",
        )
    return plan, cells[0]


class LiveCell:
    """A started, installed cell. Use as a context manager; the container is always removed."""

    def __init__(
        self, plan: Plan, cell: Cell, connection: Connection, *, log: Output, image: str | None = None
    ) -> None:
        from wheelmatrix.cell.flow import CellOptions
        from wheelmatrix.host import index_settings
        from wheelmatrix.run.engines import engine_options

        self.plan = plan
        self.cell = cell
        self.log = log
        self.options = CellOptions.from_config(plan.config, index_settings())
        self.backend: Engine = connection.open(engine_options(self.options), new_run_id())
        self.cancel = threading.Event()
        self.image_override = image
        self.sandbox: Sandbox | None = None
        self.flow: Any = None
        self.modules: dict[str, list[str]] = {}
        self.install_failures: list[CheckResult] = []
        self.image = ""

    def __enter__(self) -> LiveCell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self, *, on_output: Output | None = None, network: bool = False) -> bool:
        """Prepare the image, start the container, install; cut the network unless `network`.
        False (with `install_failures` set) when the install failed."""
        from wheelmatrix.cell.flow import CellFlow

        self.backend.reap_stale()
        tag = self.backend.prepare_image(self.cell.distro, self.cell.arch, self.log)
        self.image = tag
        if self.image_override and self.image_override != self.backend.image_id(tag):
            if self.backend.use_image(self.image_override):
                self.image = self.image_override
                self.log(
                    f"using the image the check ran on ({self.image_override[:19]}), not the current {tag}"
                )
            else:
                gone = self.image_override[:19]
                self.log(f"the image the check ran on ({gone}) is gone; using the current {tag}")
        sandbox = self.backend.sandbox(self.cell, self.image, self.cancel)
        self.sandbox = sandbox
        self.flow = CellFlow(self.cell, sandbox, self.options, self.cancel)
        with self.backend.guard(self.cancel):
            sandbox.start()
        failures: list[CheckResult] = []
        got = self.flow.install(failures, on_output)
        if got is None:
            self.install_failures = failures or [
                self.flow.result("install", Status.ERROR, "nothing was installed")
            ]
            return False
        self.modules = {k: list(v) for k, v in got.modules.items()}
        if not network:
            sandbox.isolate()
        return True

    @property
    def started(self) -> Sandbox:
        """The cell's sandbox (after `open`)."""
        if self.sandbox is None:
            raise InfrastructureError(f"{self.cell.label}: the cell is not open")
        return self.sandbox

    @property
    def installed(self) -> tuple[str, ...]:
        return tuple(self.flow.installed.dists) if self.flow else ()

    def given_modules(self) -> list[str]:
        """Every module of the candidates then the companions, in the order they were given."""
        out: list[str] = []
        for pick in (*self.cell.candidates, *self.cell.companions):
            for m in self.modules.get(pick.project, []):
                if m not in out:
                    out.append(m)
        return out

    def env(self) -> dict[str, str]:
        return {"PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin", "VIRTUAL_ENV": VENV}

    def run(self, argv: Sequence[str], *, on_output: Output | None = None) -> Outcome:
        """Run argv as the unprivileged check user, output passed to `on_output` as it comes."""
        timeout = self.options.timeout_s
        plan = {
            "timeout": timeout,
            "env": self.env(),
            "checks": [{"id": "c", "argv": list(argv), "cwd": "/tmp"}],
        }
        sandbox = self.started
        records = sandbox.probe(
            "exec", plan, user=sandbox.check_user, budget=timeout + 60, on_output=on_output
        )
        rec = next((r["check"] for r in records if isinstance(r.get("check"), dict)), None)
        if rec is None:
            raise InfrastructureError(f"the command gave no result in {self.cell.label} (container died?)")
        status, detail = classify(rec, timeout)
        return Outcome(
            status=status,
            detail=detail,
            rc=rec.get("rc"),
            signal=rec.get("signal"),
            timed_out=bool(rec.get("timed_out")),
            tail=str(rec.get("tail") or ""),
            duration_s=float(rec.get("duration_s") or 0.0),
        )

    def explain(self, outcome: Outcome, argv: Sequence[str], *, check: str = "repro") -> CheckResult:
        """The outcome as the matrix would report it: crash evidence (fault address to DSO and
        symbol, linker bindings, gdb backtrace in images with gdb), OOM, and the diagnosis."""
        from wheelmatrix.cell.checks.imports import import_warnings
        from wheelmatrix.cell.checks.symbols import native_summary
        from wheelmatrix.findings.diagnose import diagnose

        evidence: dict[str, Any] = {
            "returncode": outcome.rc,
            "signal": outcome.signal,
            "output_tail": outcome.tail,
            "argv": list(argv),
        }
        code = python_code(argv)
        if code is not None:
            evidence["modules"] = re.findall(r"^import (\S+)$", code, re.MULTILINE)
        detail, diagnosis = self.flow.oom(outcome.status, dataclasses.asdict(outcome), outcome.detail)
        if outcome.status is Status.PASSED:
            warned = import_warnings(outcome.tail)
            if warned:
                evidence["warnings"] = warned
        if not diagnosis and outcome.status is Status.CRASHED and code is not None:
            native = self.flow.crash_evidence(code)
            evidence["native"] = native
            diagnosis = native_summary(native, self.flow.site_dirs)
        result = self.flow.result(check, outcome.status, detail, outcome.duration_s, evidence, diagnosis)
        from wheelmatrix.findings.explain import attach

        diagnosed = diagnose([self.cell], [result], self.plan.scans, list(self.plan.known))
        return attach([self.cell], diagnosed, self.plan.scans)[0]

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.remove()
            self.sandbox = None
        self.backend.close()


def python_code(argv: Sequence[str]) -> str | None:
    """The code of a `python ... -c CODE` command line, else None."""
    if not argv or "python" not in argv[0].rsplit("/", 1)[-1]:
        return None
    for i, arg in enumerate(argv[:-1]):
        if arg == "-c":
            return argv[i + 1]
    return None
