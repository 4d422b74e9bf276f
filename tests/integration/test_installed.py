"""What users get: the built wheel, installed into a fresh virtual environment, every command run
from an empty directory far from this checkout (a default found only next to the source tree
would fail here)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli, cli
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("installed")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a fresh venv with the wheel built from this checkout installed (with its deps)."""
    root = tmp_path_factory.mktemp("installed")
    dist = root / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
        check=True,
        cwd=root,
    )
    (wheel,) = dist.glob("wheelmatrix-*.whl")
    (root / "wheel-path").write_text(str(wheel))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(wheel),
        ],
        check=True,
        cwd=root,
    )
    return venv / "bin"


def wm(bin_dir: Path, *args: str | Path, cwd: Path, timeout: float = 1200) -> Cli:
    return cli(*args, cwd=cwd, timeout=timeout, exe=[str(bin_dir / "wheelmatrix")])


def test_the_wheel_installs_one_top_level_name(installed: Path) -> None:
    """`wheelmatrix` is the only importable name the wheel puts into site-packages (no `runner`)."""
    wheel = Path((installed.parent.parent / "wheel-path").read_text())
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    top = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"wheelmatrix"}, sorted(top)
    assert "wheelmatrix/data/distros.yaml" in names and "wheelmatrix/probe/wm_probe.py" in names
    (site,) = (installed.parent / "lib").glob("python*/site-packages")
    assert not (site / "runner").exists()
    entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert "wheelmatrix = wheelmatrix.cli:main" in zf.read(entry).decode()


def test_package_data_comes_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [
            str(installed / "python"),
            "-c",
            "from wheelmatrix.resources import data_path; import wheelmatrix; "
            "print(wheelmatrix.__file__); [print(data_path(n)) for n in "
            "('distros.yaml', 'scenarios.yaml', 'known-problems.yaml', 'policy.json', 'setup-host.sh', "
            "'cpu-levels.json', 'reach.json', 'recipes/musl-python.sh', 'recipes/musl-inputs.json', "
            "'schemas/report.schema.json', 'schemas/results-line.schema.json', 'stable-abi.json', "
            "'symbol-sharing.json')]",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split()
    assert all(str(installed.parent) in line for line in lines), lines
    assert all(str(REPO) not in line for line in lines), lines


def test_every_command_from_an_empty_directory(
    installed: Path, tmp_path: Path, wheels: dict[str, Fixture], debian_images: None
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    runs = tmp_path / "runs"
    pure = wheels["pure"].wheels[0]

    assert wm(installed, "--version", cwd=empty).stdout.startswith("wheelmatrix ")

    listed = wm(installed, "distros", cwd=empty)
    assert listed.rc == 0 and "debian-12" in listed.stdout, listed.explain()

    extra = tmp_path / "team.yaml"
    extra.write_text(
        """distros:
  team-base:
    family: debian
    name: Team base image (local tag)
    libc: {family: glibc, version: "2.36"}
    python: "3.11"
    archs: [x86_64]
    images: {x86_64: "registry.example.internal/team/base:2026"}
  debian-13:
    family: debian
    name: Debian 13 as our mirror builds it
    libc: {family: glibc, version: "2.41"}
    python: "3.13"
    archs: [x86_64]
    recipe: {tool: mmdebstrap, suite: trixie, packages: [python3, python3-venv]}
"""
    )
    both = wm(installed, "--catalog", extra, "distros", cwd=empty)
    assert both.rc == 0 and "team-base" in both.stdout and "as our mirror builds it" in both.stdout
    assert "debian-11" in both.stdout, "the shipped entries stay"
    typo = tmp_path / "typo.yaml"
    typo.write_text("distros:\n  x:\n    familly: debian\n")
    bad = wm(installed, "distros", "--catalog", typo, cwd=empty)
    assert bad.rc == 2 and str(typo) in bad.stderr and "did you mean 'family'" in bad.stderr, bad.explain()

    doctor = wm(installed, "doctor", cwd=empty)
    assert doctor.rc in (0, 3) and "engine" in doctor.stdout, doctor.explain()
    assert "file not found" not in doctor.stdout + doctor.stderr

    scan = wm(installed, "scan", pure, cwd=empty)
    assert scan.rc == 0, scan.explain()

    validate = wm(
        installed,
        "validate",
        pure,
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--scenario",
        "import",
        "--runs-dir",
        runs,
        "--json",
        tmp_path / "a.json",
        cwd=empty,
    )
    assert validate.rc == 0, validate.explain()
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["results"] and all(r["status"] == "passed" for r in doc["results"])
    first = doc["results"][0]
    assert first["image"].startswith("sha256:") and first["engine"].startswith("docker")
    assert first["wheel_sha256"] == {pure.name: hashlib.sha256(pure.read_bytes()).hexdigest()}
    version = pure.name.split("-")[1]
    assert f"wmpure=={version}" in first["installed"], first["installed"]

    # init + run from a project directory with a dist/ and a pyproject.toml
    project = tmp_path / "project"
    (project / "dist").mkdir(parents=True)
    (project / "dist" / pure.name).write_bytes(pure.read_bytes())
    (project / "pyproject.toml").write_text('[project]\nname = "wmpure"\nversion = "1.0"\n')
    init = wm(installed, "init", cwd=project)
    assert init.rc == 0 and (project / "wheelmatrix.yaml").exists(), init.explain()
    again = wm(installed, "init", cwd=project)
    assert again.rc == 2 and "already exists" in again.stderr
    run = wm(
        installed,
        "run",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        "--scenario",
        "import",
        "--runs-dir",
        runs,
        "--json",
        tmp_path / "b.json",
        cwd=project,
    )
    assert run.rc == 0, run.explain()

    listed_runs = wm(installed, "runs", "--runs-dir", runs, cwd=empty)
    assert listed_runs.rc == 0 and listed_runs.stdout.count("finished") >= 2, listed_runs.explain()

    compared = wm(installed, "compare", tmp_path / "a.json", tmp_path / "b.json", cwd=empty)
    assert compared.rc == 0, compared.explain()

    # the reproduction commands, from the installed package: a passing repro writes no bundle
    # unless asked; --bundle writes one into the empty directory's child
    repro = wm(installed, "repro", "--distro", "debian-12", "--arch", "x86_64", pure, cwd=empty)
    assert repro.rc == 0 and "passed (exit 0)" in repro.stdout, repro.explain()
    assert not any(empty.iterdir())
    bundled = wm(
        installed,
        "repro",
        "--distro",
        "debian-12",
        "--arch",
        "x86_64",
        pure,
        "--bundle",
        empty / "b",
        cwd=empty,
    )
    assert bundled.rc == 0 and (empty / "b" / "run.sh").exists(), bundled.explain()
    assert (empty / "b" / "requirements.lock").read_text().count("--hash=sha256:") == 1
    shutil.rmtree(empty / "b")
    for command in ("minimize", "bisect"):
        helped = wm(installed, command, "--help", cwd=empty)
        assert helped.rc == 0 and "--distro" in helped.stdout, helped.explain()
