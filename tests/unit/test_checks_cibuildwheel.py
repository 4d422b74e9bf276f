"""The cibuildwheel kind (cell/checks/cibuildwheel.py): the flow through a fake sandbox, and the
shell script it runs, run for real by the host's sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures.sandbox import FakeSandbox, installed_ok, make_cell, options, run_rec
from wheelmatrix.cell.checks.cibuildwheel import BEFORE, CHECK, JUNIT, command_script
from wheelmatrix.cell.checks.execute import PROJECT_DIR
from wheelmatrix.cell.flow import CellFlow
from wheelmatrix.config.catalog import Catalog
from wheelmatrix.config.cibuildwheel import read_project
from wheelmatrix.config.scenarios import cibuildwheel_scenario
from wheelmatrix.model import Status


def _scenario(tmp_path: Path, body: str) -> object:
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "mypkg"\n\n[tool.cibuildwheel]\n{body}\n')
    return cibuildwheel_scenario(read_project(tmp_path / "pyproject.toml", environ={}))


def test_before_test_then_pytest_counts_and_failing_tests(catalog: Catalog, tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path,
        'test-command = "pytest {project}/tests"\nbefore-test = "echo ready"\ntest-requires = "hypothesis"',
    )
    cases = [
        {"classname": "tests.test_a", "name": "test_ok", "outcome": "passed", "message": ""},
        {"classname": "tests.test_a", "name": "test_bad", "outcome": "failed", "message": "boom"},
    ]

    def exec_answer(plan: dict[str, object]) -> list[dict[str, object]]:
        check = plan["checks"][0]  # type: ignore[index]
        if check["id"] == BEFORE:
            return [run_rec(BEFORE)]
        return [run_rec(CHECK, rc=1, tests=cases)]

    sandbox = FakeSandbox(answers={"install": installed_ok, "exec": exec_answer})
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()  # type: ignore[arg-type]
    assert sandbox.order == ["install", "put_dir", "exec", "isolate", "exec"]  # before-test has the network
    assert "hypothesis" in sandbox.plan("install")["steps"][-1]["argv"]
    assert sandbox.calls[1][1] == (tmp_path, PROJECT_DIR)
    before, test = (c[1]["plan"]["checks"][0] for c in sandbox.calls if c[0] == "exec")
    assert [c[1]["user"] for c in sandbox.calls if c[0] == "exec"] == [
        sandbox.install_user,
        sandbox.check_user,
    ]
    assert before["argv"][:2] == ["sh", "-c"] and before["argv"][2].endswith("echo ready")
    assert before["cwd"] == PROJECT_DIR
    assert test["junit"] == JUNIT and f"pytest {PROJECT_DIR}/tests" in test["argv"][2]
    by = {r.check: r for r in results}
    assert by[BEFORE].status is Status.PASSED
    assert by[CHECK].status is Status.FAILED and "1 passed, 1 failed" in by[CHECK].detail
    assert by["pytest tests/test_a.py::test_bad"].detail == "boom"


def test_a_skipped_identifier_runs_nothing_and_says_which_rule(catalog: Catalog, tmp_path: Path) -> None:
    scenario = _scenario(
        tmp_path, 'test-command = "pytest"\ntest-requires = "pytest"\ntest-skip = "cp3*-manylinux_x86_64"'
    )
    sandbox = FakeSandbox(answers={"install": installed_ok})
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()  # type: ignore[arg-type]
    assert "exec" not in sandbox.order
    assert "pytest" not in sandbox.plan("install")["steps"][-1]["argv"]  # nothing to install for it
    (result,) = [r for r in results if r.check == CHECK]
    assert result.status is Status.SKIPPED
    assert "test-skip 'cp3*-manylinux_x86_64' matches cp311-manylinux_x86_64" in result.detail
    assert "pyproject.toml:7: tool.cibuildwheel.test-skip" in result.detail


def test_a_command_that_is_not_pytest_is_one_check_by_its_exit(catalog: Catalog, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, "test-command = \"python -c 'import mypkg'\"")
    sandbox = FakeSandbox(
        answers={"install": installed_ok, "exec": lambda plan: [run_rec(CHECK, rc=3, tail="ImportError: x")]}
    )
    (result,) = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()  # type: ignore[arg-type]
    assert (result.check, result.status) == (CHECK, Status.FAILED)
    assert result.detail == "exit 3: ImportError: x"
    assert result.evidence["from"].endswith("pyproject.toml:5: tool.cibuildwheel.test-command")


def test_network_stays_when_the_scenario_asks(catalog: Catalog, tmp_path: Path) -> None:
    import dataclasses

    scenario = dataclasses.replace(_scenario(tmp_path, 'test-command = "true"'), network=True)  # type: ignore[type-var]
    sandbox = FakeSandbox(answers={"install": installed_ok, "exec": lambda plan: [run_rec(CHECK)]})
    CellFlow(make_cell(catalog, scenario), sandbox, options()).run()
    assert "isolate" not in sandbox.order


def test_the_script_runs_from_a_fresh_directory_with_sources_and_environment(tmp_path: Path) -> None:
    """The generated script, run by this host's sh: a new directory outside the project, the
    test-sources copied in, the environment in order, placeholders filled."""
    project = tmp_path / "project"
    (project / "tests" / "data").mkdir(parents=True)
    (project / "tests" / "data" / "x.txt").write_text("x\n")
    (project / "conftest.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[tool.cibuildwheel]\ntest-sources = ["tests", "conftest.py"]\n'
        'test-environment = { A = "1", B = "$A two", C = "$(echo three)" }\n'
        'test-command = ["pwd", "ls", "cat tests/data/x.txt", "echo \\"$B $C\\" {project} {package}", '
        '"echo \\"$PYTEST_ADDOPTS\\""]\n'
    )
    tests = read_project(project / "pyproject.toml", environ={}).resolve("cp312-manylinux_x86_64")
    script = command_script(tests, {"project": str(project), "package": f"{project}/src"})
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd="/", check=True).stdout
    cwd, *rest = out.splitlines()
    assert cwd.startswith("/tmp/wm-cibw-test.") and not cwd.startswith(str(project))
    assert rest[:2] == ["conftest.py", "tests"] and rest[2] == "x"
    assert rest[3] == f"1 two three {project} {project}/src"
    assert rest[4] == f"--junitxml={JUNIT}"
    subprocess.run(["rm", "-rf", cwd], check=True)


def test_a_failing_before_test_stops_the_tests(catalog: Catalog, tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, 'test-command = "pytest"\nbefore-test = "pip install nothing-here"')
    sandbox = FakeSandbox(
        answers={
            "install": installed_ok,
            "exec": lambda plan: [run_rec(BEFORE, rc=1, tail="ERROR: no such package")],
        }
    )
    results = CellFlow(make_cell(catalog, scenario), sandbox, options()).run()  # type: ignore[arg-type]
    assert sandbox.order.count("exec") == 1
    (before,) = [r for r in results if r.check == BEFORE]
    assert before.status is Status.FAILED and before.detail == "exit 1: ERROR: no such package"
    assert not [r for r in results if r.check == CHECK]


def test_the_environment_is_assigned_whole_and_a_failing_substitution_stops(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.cibuildwheel]\ntest-command = "echo \\"[$FOO]\\""\n')
    env = {"CIBW_TEST_ENVIRONMENT": "FOO=$(echo a   b) BAR=`echo c` BAZ=${FOO:-x y}"}
    tests = read_project(project / "pyproject.toml", environ=env).resolve("cp312-manylinux_x86_64")
    script = command_script(tests, {"project": str(project), "package": str(project)})
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[a b]"  # one word, not split by export
    env = {"CIBW_TEST_ENVIRONMENT": "FOO=$(false)"}
    tests = read_project(project / "pyproject.toml", environ=env).resolve("cp312-manylinux_x86_64")
    script = command_script(tests, {"project": str(project), "package": str(project)})
    assert subprocess.run(["sh", "-c", script], capture_output=True).returncode == 125
