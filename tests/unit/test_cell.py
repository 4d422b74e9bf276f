"""The cell flow (wheelmatrix/cell.py) driven by a fake sandbox: no engine, no containers.

The fake answers each probe call from a script (as pytest-xdist tests its schedulers with a
fake node) and records the order of calls, so the tests can assert what the flow asks for,
in which order, and what it makes of the answers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.wheels import Fixture
from wheelmatrix.cell.checks.execute import PROJECT_DIR
from wheelmatrix.cell.checks.pytest import node_id
from wheelmatrix.cell.flow import CellFlow, CellOptions
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.config.catalog import Catalog, default_catalog_path, load_catalog
from wheelmatrix.config.runfile import RunConfig
from wheelmatrix.config.scenarios import Scenario
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import IndexSettings
from wheelmatrix.inputs.wheels import Project, parse_inputs
from wheelmatrix.matrix.cells import Cell, build_matrix, select_targets
from wheelmatrix.model import Status

Answer = Callable[[Mapping[str, Any]], list[dict[str, Any]]]


@dataclass
class FakeSandbox:
    answers: dict[str, Answer] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    image_id: str = "sha256:feedface"
    engine: str = "fake 1.0"
    install_user: str = "1000:1000"
    check_user: str = "65534:65534"
    files: dict[str, bytes] = field(default_factory=dict)

    def probe(
        self,
        command: str,
        plan: Mapping[str, Any],
        *,
        user: str,
        budget: float,
        script: str = "probe",
        on_output: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append((command, {"plan": dict(plan), "user": user, "budget": budget, "script": script}))
        answer = self.answers.get(command)
        if answer is None:
            raise AssertionError(f"unexpected probe call {command!r}")
        records = answer(plan)
        if on_output is not None:  # a live session: the fake's "output" is the records' text
            for record in records:
                on_output(str(record))
        return records

    def isolate(self) -> None:
        self.calls.append(("isolate", None))

    def put_dir(self, local: Path, target: str) -> None:
        self.calls.append(("put_dir", (local, target)))

    def read_file(self, path: str) -> bytes:
        self.calls.append(("read_file", path))
        return self.files[path]

    @property
    def order(self) -> list[str]:
        return [c for c, _ in self.calls]

    def plan(self, command: str) -> dict[str, Any]:
        return next(a["plan"] for c, a in self.calls if c == command)


def step(name: str, rc: int = 0, tail: str = "") -> dict[str, Any]:
    return {"step": {"name": name, "rc": rc, "tail": tail, "duration_s": 0.5, "signal": None}}


def installed_ok(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = [step(s["name"]) for s in plan["steps"]]
    dists = plan["resolve"]["dists"] if plan.get("resolve") else []
    out.append(
        {
            "resolved": {d: [d.replace("-", "_")] for d in dists},
            "files": {},
            "installed": sorted([f"{d}==1.0" for d in dists] + ["numpy==2.3.0"]),
        }
    )
    return out


def run_rec(
    check_id: str, rc: int = 0, tail: str = "", signal: str | None = None, **kw: Any
) -> dict[str, Any]:
    return {
        "check": {
            "id": check_id,
            "rc": rc,
            "signal": signal,
            "timed_out": False,
            "tail": tail,
            "duration_s": 0.2,
        }
        | kw
    }


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


def req(name: str) -> Project:
    return parse_inputs([f"{name}==1.0"], role="candidate")[0]


def make_cell(catalog: Catalog, scenario: Scenario, candidates: tuple[str, ...] = ("mypkg",)) -> Cell:
    targets = select_targets([catalog.get("debian-12")], ["x86_64"], [], "x86_64", ["x86_64"])
    return build_matrix(targets, [scenario], [req(c) for c in candidates], [req("companion")])[0]


def options(**changes: Any) -> CellOptions:
    return CellOptions.from_config(RunConfig().override(**changes), IndexSettings())


IMPORT = Scenario(name="import", kind="import", description="")


def test_flow_order_install_then_isolate_then_checks(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert sandbox.order == ["install", "isolate", "run"]
    # installs as the cache owner, checks as nobody
    assert sandbox.calls[0][1]["user"] == "1000:1000"
    assert sandbox.calls[2][1]["user"] == "65534:65534"
    assert results and all(r.status is Status.PASSED for r in results)
    r = results[0]
    assert r.cell_id == "debian-12/x86_64/py3.11/import"
    assert r.check_id.startswith("debian-12/x86_64/py3.11/import::")
    assert r.image == "sha256:feedface" and r.engine == "fake 1.0"
    assert "numpy==2.3.0" in r.installed and "mypkg==1.0" in r.installed
    assert r.installed_versions["numpy"] == "2.3.0"


def test_install_failure_stops_before_network_cut(catalog: Catalog) -> None:
    def failing(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [step("venv"), step("install", rc=1, tail="error: No solution found: mypkg==1.0 conflicts")]

    sandbox = FakeSandbox(answers={"install": failing})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert sandbox.order == ["install"]
    assert [r.status for r in results] == [Status.FAILED]
    assert results[0].check == "install mypkg, companion"
    assert "No solution found" in results[0].detail


def test_venv_failure_is_infrastructure(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": lambda plan: [step("venv", rc=1, tail="No module named venv")]})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert [(r.check, r.status) for r in results] == [("create venv", Status.ERROR)]
    assert "No module named venv" in results[0].detail


def test_probe_infrastructure_error_becomes_error_result(catalog: Catalog) -> None:
    def broken(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        raise InfrastructureError("the probe failed in x (exit 137)")

    results = CellFlow(make_cell(catalog, IMPORT), FakeSandbox(answers={"install": broken}), options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [
        ("run cell", Status.ERROR, "the probe failed in x (exit 137)")
    ]


def test_crash_gets_native_evidence_rerun(catalog: Catalog) -> None:
    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            run_rec(c["id"], rc=-11, signal="SIGSEGV", tail="Fatal Python error: Segmentation fault")
            for c in plan["checks"]
        ]

    crash = {"crash": {"signal": "SIGSEGV", "pc": {"dso": "/x/_a.so", "symbol": "boom"}}}
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": run, "crash": lambda plan: [crash]})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert all(r.status is Status.CRASHED for r in results)
    assert sandbox.order.count("crash") == len(results)
    assert results[0].evidence["native"] == crash["crash"]


def test_cancel_after_install_runs_nothing(catalog: Catalog) -> None:
    cancel = threading.Event()

    def install_then_cancel(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        cancel.set()
        return installed_ok(plan)

    sandbox = FakeSandbox(answers={"install": install_then_cancel})
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options(), cancel).run()
    assert results == [] and sandbox.order == ["install"]


def test_command_scenario_argv_env_and_status(catalog: Catalog) -> None:
    scenario = Scenario(
        name="cli", kind="command", description="", argv=("python", "-m", "mypkg", "--version")
    )
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "exec": lambda plan: [run_rec("command", rc=3, tail="boom: bad flag")],
        }
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options(timeout_s=7)).run()
    assert sandbox.order == ["install", "isolate", "exec"]
    plan = sandbox.plan("exec")
    assert plan["checks"][0]["argv"] == [VENV_PYTHON, "-m", "mypkg", "--version"]
    assert plan["env"]["PATH"].startswith("/tmp/wm-venv/bin:")
    assert plan["timeout"] == 7
    assert [(r.check, r.status) for r in results] == [("run python -m mypkg --version", Status.FAILED)]
    assert results[0].detail.startswith("exit 3")


def test_command_scenario_crash(catalog: Catalog) -> None:
    scenario = Scenario(name="cli", kind="command", description="", argv=("mytool",))
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("command", rc=-4, signal="SIGILL")]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert results[0].status is Status.CRASHED and "SIGILL" in results[0].detail


def test_pytest_scenario_installs_pytest_copies_sources_and_names_failures(
    catalog: Catalog, tmp_path: Path
) -> None:
    scenario = Scenario(
        name="tests",
        kind="pytest",
        description="",
        argv=("{project}/tests", "-x"),
        requires=("hypothesis",),
        sources=tmp_path,
    )
    cases = [
        {"classname": "tests.test_api", "name": "test_ok", "outcome": "passed", "message": ""},
        {
            "classname": "tests.test_api.TestGlibc",
            "name": "test_new",
            "outcome": "failed",
            "message": "AssertionError: glibc too old",
        },
    ]
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("pytest", rc=1, tests=cases)]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert sandbox.order == ["install", "put_dir", "isolate", "exec"]
    install_argv = sandbox.plan("install")["steps"][-1]["argv"]
    assert "pytest" in install_argv and "hypothesis" in install_argv
    assert sandbox.calls[1][1] == (tmp_path, PROJECT_DIR)
    argv = sandbox.plan("exec")["checks"][0]["argv"]
    assert argv[:3] == [VENV_PYTHON, "-m", "pytest"] and argv[-2:] == [f"{PROJECT_DIR}/tests", "-x"]
    assert sandbox.plan("exec")["checks"][0]["cwd"] == PROJECT_DIR
    checks = {r.check: r for r in results}
    assert checks["pytest"].status is Status.FAILED
    assert "1 passed, 1 failed" in checks["pytest"].detail
    failing = checks["pytest tests/test_api.py::TestGlibc::test_new"]
    assert failing.status is Status.FAILED and failing.detail == "AssertionError: glibc too old"
    assert len(results) == 2  # passing tests are counted, not listed


def test_pytest_scenario_all_pass(catalog: Catalog) -> None:
    scenario = Scenario(name="tests", kind="pytest", description="")
    cases = [{"classname": "test_a", "name": "test_x", "outcome": "passed", "message": ""}]
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec("pytest", rc=0, tests=cases)]}
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [("pytest", Status.PASSED, "1 passed")]
    assert "put_dir" not in sandbox.order  # no sources: nothing copied


def test_pytest_that_cannot_start(catalog: Catalog) -> None:
    scenario = Scenario(name="tests", kind="pytest", description="")
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "exec": lambda plan: [
                run_rec("pytest", rc=4, tail="ERROR: file or directory not found: x", tests=None)
            ],
        }
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert results[0].status is Status.FAILED and "file or directory not found" in results[0].detail


@pytest.mark.parametrize(
    ("classname", "name", "expected"),
    [
        ("tests.test_api", "test_ok", "tests/test_api.py::test_ok"),
        ("tests.test_api.TestX", "test_y", "tests/test_api.py::TestX::test_y"),
        ("test_top", "test_z[1-2]", "test_top.py::test_z[1-2]"),
    ],
)
def test_node_id(classname: str, name: str, expected: str) -> None:
    assert node_id({"classname": classname, "name": name}) == expected


def _killed(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [run_rec(c["id"], rc=-9, signal="SIGKILL", tail="") for c in plan["checks"]]


def test_sigkill_by_the_oom_killer_is_named_with_the_limit(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "run": _killed,
            "memory": lambda plan: [{"memory": {"oom_kills": 1, "limit": 268435456}}],
            "crash": lambda plan: [{"crash": {}}],
        }
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options(memory="256m")).run()
    first = results[0]
    assert first.status is Status.CRASHED
    assert first.detail == "SIGKILL: out of memory (limit 256m)"
    assert "OOM killer" in first.diagnosis and "--memory" in first.diagnosis
    assert sandbox.order.count("crash") == len(results) - 1  # no native re-run for the OOM kill
    # the second SIGKILL with no new OOM kill is not blamed on memory
    assert "out of memory" not in results[1].detail


def test_sigkill_without_oom_kill_stays_a_plain_crash(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "run": _killed,
            "memory": lambda plan: [{"memory": {"oom_kills": 0, "limit": None}}],
            "crash": lambda plan: [{"crash": {}}],
        }
    )
    results = CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
    assert all(r.status is Status.CRASHED and "out of memory" not in r.detail for r in results)


def test_installed_set_checks_in_the_import_scenario(catalog: Catalog) -> None:
    overlap = {
        "path": "cv2/__init__.py",
        "dists": ["opencv-python", "opencv-python-headless"],
        "differ": True,
        "on_disk_from": ["opencv-python-headless"],
    }
    same = {
        "name": "libz-1a2b3c4d.so.1",
        "copies": [["a", "a.libs/libz-1a2b3c4d.so.1"], ["b", "b.libs/libz-1a2b3c4d.so.1"]],
        "differ": True,
    }

    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1]["installed_set"] = {"overlaps": [overlap], "overlap_count": 1, "same_libs": [same]}
        return out

    sandbox = FakeSandbox(
        answers={"install": install, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    checks = {r.check: r for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()}
    files = checks["installed files"]
    assert files.status is Status.FAILED
    assert "opencv-python and opencv-python-headless" in files.detail and "cv2/__init__.py" in files.detail
    assert "opencv-python-headless's (the last installed wins)" in files.detail
    libs = checks["bundled library copies"]
    assert libs.status is Status.FAILED and "whichever loads first" in libs.diagnosis


NUMPY_WARNING_TAIL = (
    "\nA module that was compiled using NumPy 1.x cannot be run in\n"
    "NumPy 2.2.6 as it may crash. To support both 1.x and 2.x\n"
    "versions of NumPy, modules must be compiled with NumPy 2.0.\n"
    "/tmp/wm-venv/lib/python3.11/site-packages/wmx/__init__.py:4: UserWarning: fast path disabled\n"
)


def _warned(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [run_rec(c["id"], rc=0, tail=NUMPY_WARNING_TAIL) for c in plan["checks"]]


def test_passing_check_with_an_import_warning_is_marked(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": _warned})
    results = [
        r
        for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()
        if r.check.startswith("import")
    ]
    first = results[0]
    assert first.status is Status.PASSED
    assert (
        first.detail
        == "passed with a warning: A module that was compiled using NumPy 1.x cannot be run in NumPy 2"
    )
    assert first.evidence["warnings"][1] == "UserWarning: fast path disabled"


def test_strict_warnings_fail_the_check(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok, "run": _warned})
    flow = CellFlow(make_cell(catalog, IMPORT), sandbox, options(strict_warnings=True))
    results = [r for r in flow.run() if r.check.startswith("import")]
    assert all(r.status is Status.FAILED and "--strict-warnings" in r.detail for r in results)


COMMANDS = Scenario(name="commands", kind="commands", description="", argv=("--version",))


def test_commands_scenario_runs_each_command_of_the_candidates(catalog: Catalog) -> None:
    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1]["commands"] = {
            "mypkg": ["/tmp/wm-venv/bin/mytool", "/tmp/wm-venv/bin/myother"],
            "companion": ["/x"],
        }
        return out

    def run(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            run_rec(
                "k0",
                rc=1,
                tail="/tmp/wm-venv/bin/mytool: /lib/x86_64-linux-gnu/libc.so.6: "
                "version `GLIBC_2.36' not found (required by /tmp/wm-venv/bin/mytool)",
            ),
            run_rec("k1", rc=2, tail="usage: myother [-h]"),
        ]

    sandbox = FakeSandbox(answers={"install": install, "exec": run})
    results = CellFlow(make_cell(catalog, COMMANDS), sandbox, options()).run()
    argvs = [c["argv"] for c in sandbox.plan("exec")["checks"]]
    assert argvs == [["/tmp/wm-venv/bin/mytool", "--version"], ["/tmp/wm-venv/bin/myother", "--version"]]
    by = {r.check: r for r in results}
    assert by["run mytool --version"].status is Status.FAILED
    assert "version `GLIBC_2.36' not found" in by["run mytool --version"].detail
    other = by["run myother --version"]
    assert other.status is Status.PASSED and other.detail.startswith("started; exit 2")


def test_commands_scenario_without_commands(catalog: Catalog) -> None:
    sandbox = FakeSandbox(answers={"install": installed_ok})
    results = CellFlow(make_cell(catalog, COMMANDS), sandbox, options()).run()
    assert [(r.check, r.status, r.detail) for r in results] == [
        ("commands", Status.PASSED, "the candidates ship no command")
    ]


def test_installed_wheel_of_a_requirement_is_scanned_against_its_own_tag(
    catalog: Catalog, fixtures: dict[str, Fixture], tmp_path: Path
) -> None:
    """`validate wmnewglibc` (a requirement): the wheel uv picked claims manylinux_2_17 but its
    extension needs GLIBC_2.36 — a failing tag check even where it loads, read via the engine."""
    import zipfile

    wheel = next(w for w in fixtures["newglibc"].wheels if w.name.endswith("x86_64.whl"))
    so = zipfile.ZipFile(wheel).read("wmnewglibc/_native.abi3.so")
    site = "/tmp/wm-venv/lib/python3.11/site-packages"
    path = f"{site}/wmnewglibc/_native.abi3.so"
    digest = f"sha256=test-{uuid.uuid4().hex}"  # new per run: the first read is never cached

    def install(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        out = installed_ok(plan)
        out[-1].update(
            files={"mypkg": [path]},
            wheel_tags={"mypkg": ["cp39-abi3-manylinux_2_17_x86_64"]},
            elf_digests={path: digest},
        )
        return out

    sandbox = FakeSandbox(
        answers={"install": install, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]},
        files={path: so},
    )
    checks = {r.check: r for r in CellFlow(make_cell(catalog, IMPORT), sandbox, options()).run()}
    tag = checks["tag mypkg 1.0"]
    assert tag.status is Status.FAILED and "GLIBC_2.36" in tag.detail and "arc4random" in tag.detail
    assert "installers trust the tag" in tag.diagnosis
    assert sandbox.order.count("read_file") == 1
    # the second cell reads nothing: the scan is cached by the file's RECORD digest
    again = FakeSandbox(answers=sandbox.answers, files={})
    CellFlow(make_cell(catalog, IMPORT), again, options()).run()
    assert "read_file" not in again.order


def _cell_on(catalog: Catalog, distro: str, cpus: tuple[str, ...] = ()) -> Cell:
    targets = select_targets([catalog.get(distro)], ["x86_64"], [], "x86_64", ["x86_64"])
    return build_matrix(targets, [IMPORT], [req("mypkg")], [], cpus=cpus)[0]


def test_old_distro_gets_a_current_pip_before_installing(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    CellFlow(_cell_on(catalog, "centos-7"), sandbox, options()).run()
    steps = [s["name"] for s in sandbox.plan("install")["steps"]]
    assert steps[:3] == ["venv", "pip", "install"]
    pip = sandbox.plan("install")["steps"][1]["argv"]
    assert pip[-4:] == ["install", "-q", "--upgrade", "pip"] and pip[0].endswith("/bin/python")
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    CellFlow(_cell_on(catalog, "debian-12"), sandbox, options()).run()
    assert "pip" not in [s["name"] for s in sandbox.plan("install")["steps"]]


def test_cpu_cell_wraps_the_venv_python_after_installing(catalog: Catalog) -> None:
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "run": lambda plan: [run_rec(c["id"]) for c in plan["checks"]]}
    )
    results = CellFlow(_cell_on(catalog, "debian-12", ("x86-64-v2",)), sandbox, options()).run()
    steps = sandbox.plan("install")["steps"]
    assert [s["name"] for s in steps][-1] == "cpu" and steps[-1]["argv"][-1] == "Nehalem"
    assert results[0].cell_id == "debian-12/x86_64/py3.11/import+cpu-x86-64-v2"

    def cpu_fails(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
        return [
            step(s["name"], rc=1 if s["name"] == "cpu" else 0, tail="qemu: not found") for s in plan["steps"]
        ]

    sandbox = FakeSandbox(answers={"install": cpu_fails})
    results = CellFlow(_cell_on(catalog, "debian-12", ("x86-64-v2",)), sandbox, options()).run()
    assert [(r.check, r.status) for r in results] == [("cpu x86-64-v2", Status.ERROR)]
    assert "QEMU's x86-64-v2 CPU" in results[0].detail and "qemu: not found" in results[0].detail
