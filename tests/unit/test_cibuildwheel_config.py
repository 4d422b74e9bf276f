"""config/cibuildwheel.py: a project's [tool.cibuildwheel] test settings read as cibuildwheel
reads them (layers, joins, overrides, environment variables), and every bad setting refused
with the pyproject line."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelmatrix.config.cibuildwheel import find_project, identifier, read_project
from wheelmatrix.config.scenarios import cibuildwheel_scenario
from wheelmatrix.errors import InputError


def _project(tmp_path: Path, body: str, files: dict[str, str] | None = None) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "wmcibw"\nversion = "1.0"\n\n' + body)
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path / "pyproject.toml"


def test_lists_are_joined_as_cibuildwheel_joins_them(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        """[tool.cibuildwheel]
test-command = ["python -c 'import wmcibw'", "pytest {project}/tests"]
before-test = ["echo one", "echo two"]
test-requires = ["pytest>=7", "hypothesis"]
test-extras = ["test", "speed"]
test-sources = ["tests", "conftest.py"]
""",
        {"tests/test_a.py": "", "conftest.py": ""},
    )
    tests = read_project(path, environ={}).resolve("cp312-manylinux_x86_64")
    assert tests.command is not None and tests.before_test is not None
    assert tests.command.text == "python -c 'import wmcibw' && pytest {project}/tests"
    assert tests.command.where == f"{path}:6: tool.cibuildwheel.test-command"
    assert tests.before_test.text == "echo one && echo two"
    assert tests.requires == ("pytest>=7", "hypothesis")
    assert tests.extras == ("test", "speed")
    assert tests.sources == ("tests", "conftest.py")
    assert read_project(path, environ={}).requirements(["cp312-manylinux_x86_64"]) == [
        "pytest>=7",
        "hypothesis",
        "wmcibw[test,speed]",
    ]


def test_linux_table_then_environment_variables_win(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        """[tool.cibuildwheel]
test-command = "echo base"
test-skip = "cp39-*"

[tool.cibuildwheel.linux]
test-command = "echo linux"
""",
    )
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").command.text == "echo linux"  # type: ignore[union-attr]
    env = {"CIBW_TEST_COMMAND": "echo env"}
    tests = read_project(path, environ=env).resolve("cp312-manylinux_x86_64")
    assert tests.command is not None and (tests.command.text, tests.command.where) == (
        "echo env",
        "$CIBW_TEST_COMMAND",
    )
    env["CIBW_TEST_COMMAND_LINUX"] = "echo env linux"
    assert read_project(path, environ=env).resolve("cp312-manylinux_x86_64").command.text == "echo env linux"  # type: ignore[union-attr]
    # test-skip has no platform form: CIBW_TEST_SKIP_LINUX is not read, CIBW_TEST_SKIP is
    skip = read_project(path, environ={"CIBW_TEST_SKIP_LINUX": "*"}).resolve("cp312-manylinux_x86_64")
    assert skip.skipped_by == ""
    skip = read_project(path, environ={"CIBW_TEST_SKIP": "*-manylinux_x86_64"}).resolve(
        "cp312-manylinux_x86_64"
    )
    assert skip.skipped_by == "*-manylinux_x86_64" and skip.skip_where == "$CIBW_TEST_SKIP"


def test_overrides_apply_to_the_identifiers_they_select(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        """[tool.cibuildwheel]
test-command = "pytest tests"
test-requires = "pytest"

[[tool.cibuildwheel.overrides]]
select = "*-musllinux*"
test-command = "python -c pass"

[[tool.cibuildwheel.overrides]]
select = ["cp313-*"]
inherit.test-requires = "append"
test-requires = "numpy"
""",
    )
    project = read_project(path, environ={})
    assert project.resolve("cp312-musllinux_x86_64").command.text == "python -c pass"  # type: ignore[union-attr]
    assert project.resolve("cp312-manylinux_x86_64").command.text == "pytest tests"  # type: ignore[union-attr]
    assert project.resolve("cp313-manylinux_aarch64").requires == ("pytest", "numpy")
    assert project.resolve("cp312-manylinux_aarch64").requires == ("pytest",)


@pytest.mark.parametrize(
    ("globs", "ident", "rule"),
    [
        ("cp313-*_aarch64", "cp313-manylinux_aarch64", "cp313-*_aarch64"),
        ("cp313-*_aarch64", "cp312-manylinux_aarch64", ""),
        ("*-musllinux*", "cp311-musllinux_x86_64", "*-musllinux*"),
        ("pp* cp3{9,10,11}-*", "cp310-manylinux_x86_64", "cp3{9,10,11}-*"),
        ("cp3{9,10}-*", "cp311-manylinux_x86_64", ""),
        ("*t-*", "cp313t-manylinux_x86_64", "*t-*"),
    ],
)
def test_test_skip_globs_match_identifiers(tmp_path: Path, globs: str, ident: str, rule: str) -> None:
    path = _project(tmp_path, f'[tool.cibuildwheel]\ntest-command = "true"\ntest-skip = "{globs}"\n')
    assert read_project(path, environ={}).resolve(ident).skipped_by == rule


def test_identifiers_are_cibuildwheels() -> None:
    assert identifier("3.13", "glibc", "aarch64") == "cp313-manylinux_aarch64"
    assert identifier("3.11", "musl", "x86_64") == "cp311-musllinux_x86_64"
    assert identifier("3.13t", "glibc", "x86_64") == "cp313t-manylinux_x86_64"


def test_requirement_files_are_read_from_the_project(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        '[tool.cibuildwheel]\ntest-command = "true"\ntest-requires = "-r requirements/test.txt attrs"\n',
        {
            "requirements/test.txt": "# tests\npytest>=7  # runner\n\n-r extra.txt\n",
            "requirements/extra.txt": "hypothesis\n",
        },
    )
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").requires == (
        "pytest>=7",
        "hypothesis",
        "attrs",
    )


def test_dependency_groups_are_resolved(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        """[dependency-groups]
test = ["pytest", {include-group = "coverage"}]
coverage = ["coverage[toml]"]

[tool.cibuildwheel]
test-command = "pytest"
test-groups = ["test"]
""",
    )
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").requires == (
        "pytest",
        "coverage[toml]",
    )


def test_environment_keeps_shell_words_in_order(tmp_path: Path) -> None:
    path = _project(
        tmp_path, '[tool.cibuildwheel]\ntest-command = "true"\ntest-environment = { A = "1", B = "$A two" }\n'
    )
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").environment == (
        'A="1"',
        'B="$A two"',
    )
    env = {"CIBW_TEST_ENVIRONMENT": 'X=1 Y=\'a b\' Z=$(echo "z z") W="$X $(printf \'%s\' ")")"'}
    tests = read_project(path, environ=env).resolve("cp312-manylinux_x86_64")
    assert tests.environment == ("X=1", "Y='a b'", 'Z=$(echo "z z")', 'W="$X $(printf \'%s\' ")")"')


@pytest.mark.parametrize(
    ("body", "files", "message"),
    [
        (
            'test-command = "ls {dest_dir}"',
            {},
            ":6: tool.cibuildwheel.test-command: placeholder '{dest_dir}'",
        ),
        ('test-command = "true"\ntest-requires = "-r missing.txt"', {}, "missing.txt does not exist"),
        (
            'test-command = "true"\ntest-requires = "--index-url http://x pytest"',
            {},
            "installer option '--index-url'",
        ),
        (
            'test-command = "true"\ntest-requires = "-r r.txt"',
            {"r.txt": "-e .\n"},
            "r.txt:1: installer option '-e'",
        ),
        (
            'test-command = "true"\ntest-requires = "pytest; rm -rf /"',
            {},
            ":7: tool.cibuildwheel.test-requires",
        ),
        ('test-command = "true"\ntest-groups = "nope"', {}, "dependency group 'nope'"),
        ('test-command = "true"\ntest-sources = ["tests"]', {}, "test source 'tests' does not exist"),
        ('test-command = "true"\ntest-sources = ["../elsewhere"]', {}, "outside the project"),
        ('test-command = "true"\ntest-environment = "NOT AN ASSIGNMENT"', {}, "'NOT' is not an assignment"),
        ('test-command = "true"\ntest-environment = "A=\'open"', {}, "close the quote"),
        ("test-command = {a = 1}", {}, ":6: tool.cibuildwheel.test-command: must be a string or an array"),
        (
            'test-command = "true"\n\n[[tool.cibuildwheel.overrides]]\ntest-command = "x"',
            {},
            "needs 'select'",
        ),
    ],
)
def test_bad_settings_name_the_line(tmp_path: Path, body: str, files: dict[str, str], message: str) -> None:
    path = _project(tmp_path, f"[tool.cibuildwheel]\n{body}\n", files)
    with pytest.raises(InputError) as err:
        project = read_project(path, environ={})
        cibuildwheel_scenario(project)
    assert message in str(err.value), str(err.value)
    assert str(path) in str(err.value) or "r.txt" in str(err.value)


def test_a_project_without_a_test_command_is_not_a_cibuildwheel_project(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.cibuildwheel]\nbuild = "cp312-*"\n')
    assert find_project(tmp_path, environ={}) is None
    found = find_project(tmp_path, environ={"CIBW_TEST_COMMAND": "pytest"})
    assert found is not None and found.resolve("cp312-manylinux_x86_64").command is not None
    assert find_project(tmp_path / "missing", environ={}) is None


def test_braces_are_left_alone_as_cibuildwheel_leaves_them(tmp_path: Path) -> None:
    from wheelmatrix.config.cibuildwheel import fill

    command = "echo ${HOME} && awk '{print}' f && python -c \"print(f'{x}')\" && echo #{project} {project}"
    path = _project(tmp_path, f"[tool.cibuildwheel]\ntest-command = {command!r}\n".replace("'", "'''", 0))
    path.write_text(path.read_text().replace(f"{command!r}", "'''" + command + "'''"))
    tests = read_project(path, environ={}).resolve("cp312-manylinux_x86_64")
    assert tests.command is not None and tests.command.text == command
    filled = fill(tests.command.text, {"project": "/p", "package": "/p", "wheel": "/w.whl"})
    assert filled == "echo ${HOME} && awk '{print}' f && python -c \"print(f'{x}')\" && echo {project} /p"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'test-command = "auditwheel show {dest_dir}"',
            "placeholder '{dest_dir}' is not filled in test-command",
        ),
        (
            'test-command = "true"\nbefore-test = "pip install {wheel}"',
            "placeholder '{wheel}' is not filled in before-test",
        ),
    ],
)
def test_placeholders_cibuildwheel_fills_elsewhere_are_refused(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _project(tmp_path, f"[tool.cibuildwheel]\n{body}\n")
    with pytest.raises(InputError, match=message):
        read_project(path, environ={}).check()


def test_the_platform_variable_alone_is_a_test_command(tmp_path: Path) -> None:
    _project(tmp_path, '[tool.cibuildwheel]\nbuild = "*"\n')
    found = find_project(tmp_path, environ={"CIBW_TEST_COMMAND_LINUX": "pytest"})
    assert found is not None and found.resolve("cp312-manylinux_x86_64").command.text == "pytest"  # type: ignore[union-attr]


def test_test_skip_is_global_as_in_cibuildwheel(tmp_path: Path) -> None:
    """No override applies to test-skip; the linux table does (only CIBW_TEST_SKIP_LINUX is not read)."""
    path = _project(
        tmp_path,
        """[tool.cibuildwheel]
test-command = "true"

[tool.cibuildwheel.linux]
test-skip = "*-musllinux_*"

[[tool.cibuildwheel.overrides]]
select = "cp313-*"
test-skip = "*"
""",
    )
    project = read_project(path, environ={})
    assert project.resolve("cp313-manylinux_x86_64").skipped_by == ""
    assert project.resolve("cp312-musllinux_x86_64").skipped_by == "*-musllinux_*"


def test_brace_ranges_expand_as_cibuildwheel_expands_them(tmp_path: Path) -> None:
    path = _project(tmp_path, '[tool.cibuildwheel]\ntest-command = "true"\ntest-skip = "cp3{10..12}-*"\n')
    project = read_project(path, environ={})
    assert project.resolve("cp311-manylinux_x86_64").skipped_by == "cp3{10..12}-*"
    assert project.resolve("cp313-manylinux_x86_64").skipped_by == ""


def test_requirement_files_read_as_pip_reads_them(tmp_path: Path) -> None:
    path = _project(
        tmp_path,
        """[dependency-groups]
Test_Deps = ["attrs"]

[tool.cibuildwheel]
test-command = "true"
test-requires = "-r a.txt"
test-groups = ["test-deps"]
""",
        {
            "a.txt": "-rb.txt\n--requirement=c.txt\npytest \\\n  >=7\n",
            "b.txt": "hypothesis\n",
            "c.txt": "numpy\n",
        },
    )
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").requires == (
        "hypothesis",
        "numpy",
        "pytest   >=7",
        "attrs",
    )


@pytest.mark.parametrize("source", ["a\\u0000b", "x" * 300])
def test_unreadable_paths_are_input_errors(tmp_path: Path, source: str) -> None:
    path = _project(tmp_path, f'[tool.cibuildwheel]\ntest-command = "true"\ntest-sources = ["{source}"]\n')
    with pytest.raises(InputError, match="test source"):
        read_project(path, environ={}).check()


def test_numbers_and_booleans_are_strings_as_in_cibuildwheel(tmp_path: Path) -> None:
    path = _project(tmp_path, "[tool.cibuildwheel]\ntest-command = 1\n")
    assert read_project(path, environ={}).resolve("cp312-manylinux_x86_64").command.text == "1"  # type: ignore[union-attr]
