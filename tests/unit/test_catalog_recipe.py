"""A catalog's mmdebstrap recipe cannot put an option or a second source into the host's
mmdebstrap argv: names are checked when the catalog loads, and the argv ends options with `--`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wheelmatrix.backends.recipes.mmdebstrap import mmdebstrap_argv
from wheelmatrix.config.catalog import Recipe, default_catalog_path, load_catalog
from wheelmatrix.errors import EXIT_BAD_INPUT, InputError

RUNNER = Path(__file__).resolve().parents[2] / "runner"
HOOK = "--customize-hook=touch /tmp/wm-owned"


def recipe_catalog(tmp_path: Path, recipe: str, distro_id: str = "mine") -> Path:
    path = tmp_path / "evil-distros.yaml"
    path.write_text(
        "schema: 1\n"
        "distros:\n"
        f"  {distro_id}:\n"
        "    name: Mine\n"
        "    libc: {family: glibc, version: '2.36'}\n"
        "    python: '3.11'\n"
        "    archs: [x86_64]\n"
        f"    recipe: {recipe}\n",
        encoding="utf-8",
    )
    return path


def load(path: Path) -> Recipe:
    recipe = load_catalog(path, load_catalog(default_catalog_path())).get("mine").recipe
    assert recipe is not None
    return recipe


@pytest.mark.parametrize(
    "suite",
    [
        "bookworm",
        "trixie",
        "stable",
        "bookworm-backports",
        "oldstable-proposed-updates",
        "sid",
        "focal",
        "12.4",
    ],
)
def test_real_suite_names_load(tmp_path: Path, suite: str) -> None:
    recipe = load(recipe_catalog(tmp_path, f"{{tool: mmdebstrap, suite: '{suite}', packages: [python3]}}"))
    assert recipe.suite == suite


def test_real_package_names_load(tmp_path: Path) -> None:
    packages = ["python3", "python3-venv", "libstdc++6", "g++", "libc6:arm64", "python3.11-dev", "gdb:any"]
    recipe = load(
        recipe_catalog(
            tmp_path,
            "{tool: mmdebstrap, suite: bookworm, packages: [" + ", ".join(f"'{p}'" for p in packages) + "], "
            "components: [main, non-free-firmware, updates/main]}",
        )
    )
    assert recipe.packages == tuple(packages)
    assert recipe.components == ("main", "non-free-firmware", "updates/main")


def test_the_shipped_catalog_passes() -> None:
    catalog = load_catalog(default_catalog_path())
    assert any(d.recipe is not None and d.recipe.tool == "mmdebstrap" for d in catalog.distros.values())


@pytest.mark.parametrize(
    ("recipe", "key", "bad"),
    [
        (f"{{tool: mmdebstrap, suite: '{HOOK}', packages: [python3]}}", "recipe.suite", HOOK),
        ("{tool: mmdebstrap, suite: '-v', packages: [python3]}", "recipe.suite", "-v"),
        ("{tool: mmdebstrap, suite: 'bookworm main', packages: [python3]}", "recipe.suite", "bookworm main"),
        (
            '{tool: mmdebstrap, suite: "bookworm\\ndeb http://evil/ sid main", packages: [python3]}',
            "recipe.suite",
            "\\n",
        ),
        ("{tool: mmdebstrap, suite: Bookworm, packages: [python3]}", "recipe.suite", "Bookworm"),
        ("{tool: mmdebstrap, suite: ../../etc, packages: [python3]}", "recipe.suite", "../../etc"),
        (f"{{tool: mmdebstrap, suite: bookworm, packages: [python3, '{HOOK}']}}", "recipe.packages[1]", HOOK),
        (
            "{tool: mmdebstrap, suite: bookworm, packages: ['python3,evil']}",
            "recipe.packages[0]",
            "python3,evil",
        ),
        ("{tool: mmdebstrap, suite: bookworm, packages: ['x']}", "recipe.packages[0]", "'x'"),
        ("{tool: mmdebstrap, suite: bookworm, packages: ['-python3']}", "recipe.packages[0]", "-python3"),
        ("{tool: mmdebstrap, suite: bookworm, packages: ['py thon']}", "recipe.packages[0]", "py thon"),
        ("{tool: mmdebstrap, suite: bookworm, packages: ['python3:']}", "recipe.packages[0]", "python3:"),
        (
            "{tool: mmdebstrap, suite: bookworm, packages: [python3], components: ['main /']}",
            "recipe.components[0]",
            "main /",
        ),
        (
            "{tool: mmdebstrap, suite: bookworm, packages: [python3], components: ['--x']}",
            "recipe.components[0]",
            "--x",
        ),
    ],
    ids=[
        "hook-suite",
        "option-suite",
        "space-suite",
        "newline-suite",
        "uppercase-suite",
        "path-suite",
        "hook-package",
        "comma-package",
        "short-package",
        "dash-package",
        "space-package",
        "empty-arch",
        "space-component",
        "option-component",
    ],
)
def test_a_recipe_name_that_is_not_a_debian_name_is_refused(
    tmp_path: Path, recipe: str, key: str, bad: str
) -> None:
    path = recipe_catalog(tmp_path, recipe)
    with pytest.raises(InputError) as info:
        load(path)
    message = str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT
    assert f"{path}:" in message  # the file (and its line)
    assert "distro 'mine'" in message and f"distros.mine.{key}" in message
    assert bad in message
    assert "hint:" in message  # what to do


def test_the_argv_ends_options_before_the_suite(tmp_path: Path) -> None:
    recipe = Recipe(tool="mmdebstrap", suite="bookworm", packages=("python3", "python3-venv"))
    argv = mmdebstrap_argv(recipe, "aarch64", tmp_path / "rootfs.tar", "http://mirror.example/debian")
    cut = argv.index("--")
    assert argv[0] == "mmdebstrap"
    assert all(a.startswith("--") for a in argv[1:cut])
    assert "--architectures=arm64" in argv[:cut] and "--include=python3,python3-venv" in argv[:cut]
    assert argv[cut + 1 :] == [
        "bookworm",
        str(tmp_path / "rootfs.tar"),
        "deb http://mirror.example/debian bookworm main",
    ]


def test_the_argv_refuses_a_recipe_made_without_the_catalog(tmp_path: Path) -> None:
    """A Recipe built in code (not loaded) is checked again before it reaches mmdebstrap."""
    for recipe in (
        Recipe(tool="mmdebstrap", suite=HOOK, packages=("python3",)),
        Recipe(tool="mmdebstrap", suite="bookworm", packages=("python3", HOOK)),
        Recipe(tool="mmdebstrap", suite="bookworm", packages=("python3",), components=("main\ndeb x",)),
    ):
        with pytest.raises(InputError, match="not Debian names"):
            mmdebstrap_argv(recipe, "x86_64", tmp_path / "t.tar", "http://m/debian")


def test_the_real_mmdebstrap_takes_a_dash_suite_after_the_double_dash_as_the_suite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The argv as built, with the name checks switched off and `--simulate` added, against the
    real mmdebstrap (offline: the mirror does not exist). With `--` the hook stays the suite and
    the target stays the target; without it (the control) mmdebstrap takes the hook as an option
    and every positional argument moves up one place."""
    import shutil

    import wheelmatrix.backends.recipes.mmdebstrap as mm

    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed")
    marker = tmp_path / "owned"
    monkeypatch.setattr(mm, "mmdebstrap_names_ok", lambda recipe: True)
    recipe = Recipe(tool="mmdebstrap", suite=f"--customize-hook=touch {marker}", packages=("python3",))
    argv = mmdebstrap_argv(recipe, "x86_64", tmp_path / "rootfs.tar", f"file://{tmp_path}/no-mirror")
    argv.insert(1, "--simulate")
    env = {**os.environ, "LC_ALL": "C"}

    def run(args: list[str]) -> str:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
        assert proc.returncode != 0  # the mirror does not exist
        return proc.stderr

    moved = "unable to get absolute path of target directory deb "
    assert moved not in run(argv)
    assert not marker.exists()
    assert moved in run([a for a in argv if a != "--"])  # the control: without `--` it is an option


@pytest.mark.parametrize("command", [["distros"], ["plan", "wmpure"]])
def test_the_cli_refuses_the_catalog_with_exit_2(tmp_path: Path, command: list[str]) -> None:
    path = recipe_catalog(tmp_path, f"{{tool: mmdebstrap, suite: '{HOOK}', packages: [python3]}}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(RUNNER), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "wheelmatrix", "--catalog", str(path), *command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "distro 'mine'" in proc.stderr and "recipe.suite" in proc.stderr
    assert proc.stderr.startswith("wheelmatrix: error: ")
