"""The Docker backend: the only module that talks to the engine (through the Docker SDK)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import Mount

from runner.backends import images
from runner.backends.base import Log
from runner.checks.imports import ImportCheck, classify, plan_import_checks
from runner.checks.symbols import interpret_smoke, native_summary
from runner.config.catalog import Distro
from runner.errors import InfrastructureError
from runner.host import ca_bundle, cache_dir, host_arch, uv_binary
from runner.install import (
    CA_BUNDLE,
    FIND_LINKS_DIR,
    PROBE,
    PROBE_DIR,
    SYMBOLS_PROBE,
    UV_CACHE,
    VENV,
    VENV_PYTHON,
    WHEELS_DIR,
    WM_ROOT,
    IndexSettings,
    Step,
    classify_install_failure,
    install_argv,
    installer_env,
    venv_argv,
)
from runner.matrix import Cell, Pick
from runner.probe import MARK
from runner.probe import PROBE_DIR as PROBE_DIR_HOST
from runner.results import CheckResult, Status

LABEL_RUN = "org.wheelmatrix.run"
LABEL_PID = "org.wheelmatrix.pid"
LABEL_HOST = "org.wheelmatrix.host"
NOBODY = "65534:65534"


@dataclass(frozen=True, kw_only=True)
class CellOptions:
    installer: str = "uv"
    link_mode: str = "symlink"
    offline: bool = False
    find_links: tuple[Path, ...] = ()
    timeout_s: float = 120.0
    install_timeout_s: float = 1800.0
    memory: str = "4g"
    pids: int = 1024
    index: IndexSettings = field(default_factory=IndexSettings)


def connect() -> Any:
    """A client for the engine named by DOCKER_HOST (or the local socket)."""
    try:
        client = docker.from_env(timeout=600)
        client.ping()
        return client
    except Exception as exc:
        raise InfrastructureError(
            f"no container engine answers ({exc.__class__.__name__}: {str(exc)[:200]})",
            hint="start one with `sudo bash scripts/setup-host.sh`, or point DOCKER_HOST at an engine; "
            "`wheelmatrix doctor` shows what is missing",
        ) from None


class DockerBackend:
    def __init__(self, client: Any, options: CellOptions, run_id: str) -> None:
        self.client = client
        self.options = options
        self.run_id = run_id
        self._lock = threading.Lock()
        self._containers: dict[str, Any] = {}
        self._closed = False
        self._uv: dict[str, Path] = {}
        self._ca = ca_bundle()
        self._uv_cache = cache_dir() / "uv-cache"
        self._uv_cache.mkdir(exist_ok=True)
        self._uv_cache.chmod(0o755)  # package code runs as nobody: it must not write the shared cache

    # -- images --------------------------------------------------------------------------------
    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        tag = images.prepare(self.client, distro, arch, log)
        if self._installer(distro) == "uv":
            with self._lock:
                if arch not in self._uv:
                    self._uv[arch] = uv_binary(_uv_arch(arch))
        return tag

    def _installer(self, distro: Distro) -> str:
        return self.options.installer if distro.supports_uv else "pip"

    # -- cleanup -------------------------------------------------------------------------------
    def reap_stale(self) -> int:
        """Remove containers left by runners on this host that are no longer alive."""
        removed = 0
        host = socket.gethostname()
        for c in self.client.containers.list(all=True, filters={"label": f"{images.LABEL_MANAGED}=true"}):
            labels = c.labels or {}
            if labels.get(LABEL_HOST) != host or labels.get(LABEL_RUN) == self.run_id:
                continue
            pid = int(labels.get(LABEL_PID, "0") or 0)
            if pid and _alive(pid):
                continue
            _remove(c)
            removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            self._closed = True
            leftovers = list(self._containers.values())
            self._containers.clear()
        for c in leftovers:
            _remove(c)
        for c in self.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={self.run_id}"}):
            _remove(c)

    # -- cells ---------------------------------------------------------------------------------
    def run_cell(self, cell: Cell, image: str, cancel: threading.Event) -> list[CheckResult]:
        run = _CellRun(self, cell, image, cancel)
        try:
            return run.execute()
        except InfrastructureError as exc:
            return [run.result("run cell", Status.ERROR, exc.message)]
        except docker.errors.DockerException as exc:
            reason = "stopped" if cancel.is_set() else f"engine error: {str(exc)[:300]}"
            return [run.result("run cell", Status.ERROR, reason)]
        finally:
            run.remove()

    def _mounts(self, cell: Cell) -> list[Mount]:
        installer = self._installer(cell.distro)
        mounts = [Mount(PROBE_DIR, str(PROBE_DIR_HOST), type="bind", read_only=True)]
        if installer == "uv":
            mounts.append(Mount(f"{WM_ROOT}/bin/uv", str(self._uv[cell.arch]), type="bind", read_only=True))
            mounts.append(Mount(UV_CACHE, str(self._uv_cache), type="bind", read_only=False))
        if self._ca is not None:
            mounts.append(Mount(CA_BUNDLE, str(self._ca), type="bind", read_only=True))
        for pick in (*cell.candidates, *cell.companions):
            if pick.wheel is not None:
                target = f"{WHEELS_DIR}/{pick.wheel.filename}"
                mounts.append(Mount(target, str(pick.wheel.path), type="bind", read_only=True))
        for i, path in enumerate(self.options.find_links):
            mounts.append(Mount(f"{FIND_LINKS_DIR}/{i}", str(path.resolve()), type="bind", read_only=True))
        return mounts

    def _track(self, container: Any) -> None:
        with self._lock:
            if not self._closed:
                self._containers[container.id] = container
                return
        _remove(container)  # created while the run was being closed
        raise InfrastructureError("the run was stopped")

    def _untrack(self, container: Any) -> None:
        with self._lock:
            self._containers.pop(container.id, None)


class _CellRun:
    """One cell: create the container, install, cut the network, run checks, always remove."""

    def __init__(self, backend: DockerBackend, cell: Cell, image: str, cancel: threading.Event) -> None:
        self.b = backend
        self.cell = cell
        self.image = image
        self.cancel = cancel
        self.container: Any = None
        self.installer = backend._installer(cell.distro)
        self.wheels = tuple(p.wheel.filename for p in (*cell.candidates, *cell.companions) if p.wheel)

    def result(
        self,
        check: str,
        status: Status,
        detail: str,
        duration: float = 0.0,
        evidence: Mapping[str, Any] | None = None,
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
            evidence=dict(evidence or {}),
        )

    def remove(self) -> None:
        if self.container is not None:
            _remove(self.container)
            self.b._untrack(self.container)

    def execute(self) -> list[CheckResult]:
        opts = self.b.options
        labels = {
            images.LABEL_MANAGED: "true",
            images.LABEL_KIND: "cell",
            LABEL_RUN: self.b.run_id,
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
        }
        self.container = self.b.client.containers.create(
            self.image,
            ["tail", "-f", "/dev/null"],
            labels=labels,
            init=True,
            mounts=self.b._mounts(self.cell),
            network_mode="bridge",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            pids_limit=opts.pids,
            mem_limit=opts.memory,
            working_dir="/tmp",
            environment={"PYTHONDONTWRITEBYTECODE": "1"},
        )
        self.b._track(self.container)
        self.container.start()
        results: list[CheckResult] = []
        installed = self._install(results)
        if installed is None or self.cancel.is_set():
            return results
        modules, files = installed
        self._isolate()
        if self.cell.scenario.kind == "symbols":
            results += self._run_symbols(modules, files)
        else:
            results += self._run_checks(modules)
        return results

    # -- phase 1: install with network ---------------------------------------------------------
    def _install(
        self, results: list[CheckResult]
    ) -> tuple[dict[str, list[str]], dict[str, list[str]]] | None:
        opts = self.b.options
        cell = self.cell
        links = [f"{FIND_LINKS_DIR}/{i}" for i in range(len(opts.find_links))]

        def argv(args: Sequence[str]) -> tuple[str, ...]:
            return install_argv(
                self.installer, args, index=opts.index, find_links=links, offline=opts.offline
            )

        def arg(p: Pick) -> str:
            return f"{WHEELS_DIR}/{p.wheel.filename}" if p.wheel else str(p.requirement)

        steps = [Step(name="venv", argv=venv_argv(self.installer, cell.distro.python_executable))]
        unfit = cell.unfit
        for pick in unfit:
            steps.append(Step(name=f"refuse:{pick.project}", argv=argv([arg(pick)]), expect_failure=True))
        fit = [p for p in (*cell.candidates, *cell.companions) if p.fits is not False]
        if fit:
            steps.append(Step(name="install", argv=argv([arg(p) for p in fit])))
        plan = {
            "steps": [
                {"name": s.name, "argv": list(s.argv), "expect_failure": s.expect_failure} for s in steps
            ],
            "env": installer_env(self.installer, opts.index, opts.offline, opts.link_mode),
            "timeout": opts.install_timeout_s,
            "resolve": {"site_packages": self._site_packages(), "dists": [p.project for p in fit]}
            if fit
            else None,
        }
        records = self._probe(
            "install",
            plan,
            user=f"{os.getuid()}:{os.getgid()}",
            budget=opts.install_timeout_s * (len(steps) + 1),
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
            if rec is None:
                continue
            if rec["rc"] != 0:
                status, said = classify_install_failure(rec["tail"])
                detail = (
                    f"{pick.reason}; {said}"
                    if status is Status.NOT_INSTALLABLE
                    else (f"{pick.reason}; but the installer failed otherwise: {said}")
                )
                results.append(
                    self.result(
                        f"install {pick.project}",
                        Status.NOT_INSTALLABLE if status is Status.NOT_INSTALLABLE else status,
                        detail,
                        rec["duration_s"],
                        {"installer_output": rec["tail"]},
                    )
                )
            else:
                results.append(
                    self.result(
                        f"install {pick.project}",
                        Status.ERROR,
                        f"prediction said not installable ({pick.reason}) but {self.installer} installed it",
                        rec["duration_s"],
                        {"installer_output": rec["tail"]},
                    )
                )
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
        resolved = next((r for r in records if "resolved" in r), None)
        if resolved is None or resolved.get("resolved") is None:
            results.append(
                self.result("resolve modules", Status.ERROR, "the probe did not list installed modules")
            )
            return None
        return resolved["resolved"], resolved.get("files") or {}

    def _site_packages(self) -> list[str]:
        version = f"python{self.cell.python}"
        return [f"{VENV}/lib/{version}/site-packages", f"{VENV}/lib64/{version}/site-packages"]

    def _isolate(self) -> None:
        """Cut the container off the network before any package code runs."""
        self.container.reload()
        for net in list((self.container.attrs.get("NetworkSettings") or {}).get("Networks") or {}):
            self.b.client.api.disconnect_container_from_network(self.container.id, net, force=True)

    # -- phase 2: checks, offline, as nobody ---------------------------------------------------
    def _modules(
        self, picks: Sequence[Pick], resolved: Mapping[str, Sequence[str]]
    ) -> list[tuple[str, Sequence[str]]]:
        return [
            (p.project, resolved.get(p.project) or (p.wheel.modules if p.wheel else ()))
            for p in picks
            if p.fits is not False
        ]

    def _run_symbols(
        self, resolved: Mapping[str, Sequence[str]], files: Mapping[str, Sequence[str]]
    ) -> list[CheckResult]:
        opts = self.b.options
        cands = self._modules(self.cell.candidates, resolved)
        comps = self._modules(self.cell.companions, resolved)
        if self.cell.extra_imports:
            comps.append(("imports", self.cell.extra_imports))
        site_dirs = self._site_packages()
        plan = {
            "python": VENV_PYTHON,
            "timeout": opts.timeout_s,
            "site_dirs": site_dirs,
            "modules": [m for _p, mods in (*cands, *comps) for m in mods],
            "orders": [
                [m for _p, mods in (*cands, *comps) for m in mods],
                [m for _p, mods in (*comps, *reversed(cands)) for m in mods],
            ],
            "files": {p: list(files.get(p, [])) for p, _m in cands},
        }
        started = time.monotonic()
        records = self._probe(
            "smoke", plan, user=NOBODY, budget=opts.timeout_s * 3 + 120, script=SYMBOLS_PROBE
        )
        took = time.monotonic() - started
        return [
            dataclasses.replace(
                self.result(c.check, c.status, c.detail, took, c.evidence), diagnosis=c.diagnosis
            )
            for c in interpret_smoke([p for p, _m in cands], records, site_dirs)
        ]

    def _crash_evidence(self, check: ImportCheck) -> dict[str, Any]:
        """Re-run a crashed check for native evidence: fault address, gdb, linker bindings."""
        plan = {
            "python": VENV_PYTHON,
            "code": check.code,
            "timeout": self.b.options.timeout_s,
            "site_dirs": self._site_packages(),
        }
        budget = self.b.options.timeout_s * 4 + 60
        records = self._probe("crash", plan, user=NOBODY, budget=budget, script=SYMBOLS_PROBE)
        native: dict[str, Any] = next((r["crash"] for r in records if "crash" in r), {})
        return native

    def _run_checks(self, resolved: Mapping[str, Sequence[str]]) -> list[CheckResult]:
        opts = self.b.options
        cell = self.cell
        cands, comps = self._modules(cell.candidates, resolved), self._modules(cell.companions, resolved)
        if cell.extra_imports:
            comps.append(("imports", cell.extra_imports))
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
        records = self._probe("run", plan, user=NOBODY, budget=budget)
        by_id = {r["check"]["id"]: r["check"] for r in records if "check" in r}
        for check in checks:
            results.append(self._check_result(check, by_id.get(check.id)))
        return results

    def _check_result(self, check: ImportCheck, rec: Mapping[str, Any] | None) -> CheckResult:
        if rec is None:
            reason = "stopped" if self.cancel.is_set() else "the probe gave no result (container died?)"
            return self.result(check.text, Status.ERROR, reason)
        status, detail = classify(rec, self.b.options.timeout_s)
        evidence: dict[str, Any] = {
            "returncode": rec["rc"],
            "signal": rec["signal"],
            "output_tail": rec["tail"],
            "modules": list(check.modules),
        }
        result = self.result(check.text, status, detail, rec["duration_s"], evidence)
        if status is Status.CRASHED and not self.cancel.is_set():
            native = self._crash_evidence(check)
            evidence["native"] = native
            summary = native_summary(native, self._site_packages())
            result = dataclasses.replace(result, evidence=evidence, diagnosis=summary)
        return result

    def _probe(
        self, command: str, plan: Mapping[str, Any], *, user: str, budget: float, script: str = PROBE
    ) -> list[dict[str, Any]]:
        """Run the probe in the container; kill the container if it overruns its budget."""
        api = self.b.client.api
        exec_id = api.exec_create(
            self.container.id,
            [self.cell.distro.python_executable, "-I", "-S", script, command, json.dumps(plan)],
            user=user,
            workdir="/tmp",
        )["Id"]
        watchdog = threading.Timer(budget, self._kill)
        watchdog.daemon = True
        watchdog.start()
        started = time.monotonic()
        try:
            out = api.exec_start(exec_id)
        finally:
            watchdog.cancel()
        text = out.decode("utf-8", "replace") if isinstance(out, bytes) else str(out)
        records = [json.loads(ln[len(MARK) :]) for ln in text.splitlines() if ln.startswith(MARK)]
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code not in (0, None) and not records:
            raise InfrastructureError(
                f"the probe failed in {self.cell.label} (exit {code}, {time.monotonic() - started:.1f} s): "
                f"{text.strip()[-400:]}"
            )
        return records

    def _kill(self) -> None:
        with contextlib.suppress(docker.errors.DockerException):
            self.container.kill()


def _uv_arch(cell_arch: str) -> str:
    """Which uv binary to mount: the host's own arch where it can run one.

    uv is a static executable; one built for the host's arch runs natively inside a foreign-arch
    container (the kernel runs it directly; only foreign binaries go through QEMU). uv takes the
    platform to install for from the cell's interpreter, not from its own build, so the wheels
    picked are the cell's; resolving, unpacking and copying then run at native speed.
    """
    native = host_arch()
    return native if native in ("x86_64", "aarch64") else cell_arch


def _remove(container: Any) -> None:
    try:
        container.remove(force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
