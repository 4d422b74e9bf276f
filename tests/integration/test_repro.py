"""`wheelmatrix repro` in real containers: one cell live, the exit code of the command, the
diagnosis, a reproducer bundle rerun with plain docker, --repeat, --from a matrix report, and
--shell through a real pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import cli, wheelmatrix
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
CELL = ("--distro", "debian-12", "--arch", "x86_64")


def x86(fixture: Fixture) -> Path:
    return next(w for w in fixture.wheels if w.name.endswith("_x86_64.whl"))


def pair(wheels: dict[str, Fixture]) -> list[str]:
    """The collision pair in the order that crashes: wmcolla (RTLD_GLOBAL) first."""
    return [str(x86(wheels["colla"])), "--with", str(x86(wheels["collb"]))]


@pytest.mark.xdist_group("repro")
def test_repro_streams_exits_139_and_its_bundle_crashes_the_same_way_with_plain_docker(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    work = tmp_path / "user"
    work.mkdir()
    run = cli("repro", *CELL, *pair(wheels), cwd=work)
    assert run.rc == 139, run.explain()
    out = run.stdout
    # the command's own output streamed (faulthandler), then the verdict and the diagnosis
    assert out.index("Fatal Python error: Segmentation fault") < out.index("crashed (exit 139)"), out
    assert "`wm_shared_state` wanted by wmcollb/_b.abi3.so was bound to wmcolla/_a.abi3.so" in out, out
    bundle = work / "wheelmatrix-repro-debian-12-x86_64"
    assert {p.name for p in bundle.iterdir()} >= {
        "Dockerfile", "run.sh", "README.md", "requirements.lock", "image.tar", "wheels",
    }, list(bundle.iterdir())  # fmt: skip
    lock = (bundle / "requirements.lock").read_text()
    assert "./wheels/wmcolla-1.0-cp39-abi3-manylinux_2_17_x86_64.whl --hash=sha256:" in lock, lock
    readme = (bundle / "README.md").read_text()
    assert "exit code: 139" in readme and "wm_shared_state" in readme, readme
    for path in bundle.rglob("*"):
        if path.is_file() and path.suffix not in (".tar", ".whl"):
            text = path.read_text()
            assert str(tmp_path) not in text and str(Path.home()) not in text, (path, text)
    # elsewhere, without wheelmatrix: a copy of the bundle, run with docker only
    elsewhere = tmp_path / "maintainer" / "bundle"
    shutil.copytree(bundle, elsewhere)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    if os.environ.get("DOCKER_HOST"):
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    rerun = subprocess.run(
        ["sh", "run.sh"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900
    )
    assert rerun.returncode == 139, rerun.stdout + rerun.stderr
    assert "Segmentation fault" in rerun.stdout + rerun.stderr
    assert "exit code: 139 (expected 139)" in rerun.stderr


@pytest.mark.xdist_group("repro")
def test_repeat_counts_the_failing_runs(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    run = cli("repro", *CELL, *pair(wheels), "--repeat", "3", "--no-bundle", cwd=tmp_path)
    assert run.rc == 139, run.explain()
    assert "3 of 3 runs failed: crashed (SIGSEGV) x3" in run.stdout, run.explain()
    assert not list(tmp_path.glob("wheelmatrix-repro-*"))
    # the healthy order: every run passes, exit 0, no bundle
    ok = cli(
        "repro", *CELL, str(x86(wheels["collb"])), "--with", str(x86(wheels["colla"])), "--repeat", "2",
        cwd=tmp_path,
    )  # fmt: skip
    assert ok.rc == 0, ok.explain()
    assert "0 of 2 runs failed" in ok.stdout and not list(tmp_path.glob("wheelmatrix-repro-*")), ok.explain()


@pytest.mark.xdist_group("repro")
def test_from_a_matrix_report_reruns_exactly_one_check(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    matrix = wheelmatrix(*pair(wheels), *CELL, "--scenario", "import", tmp=tmp_path)
    assert matrix.rc == 1, matrix.explain()
    crashed = [r for r in matrix.results() if r["status"] == "crashed"]
    assert crashed, matrix.explain()
    report = next(tmp_path.glob("report-*.json"))
    check = crashed[0]["check_id"]
    files = (x86(wheels["colla"]), x86(wheels["collb"]))
    run = cli("repro", "--from", report, "--check", check, *files, "--no-bundle", cwd=tmp_path)
    assert run.rc == 139, run.explain()
    assert "crashed (exit 139)" in run.stdout
    # a run directory works too, and finds the wheels the run was started with by itself
    run_dir = next((tmp_path / "runs").iterdir())
    again = cli("repro", "--from", run_dir, "--check", check, "--no-bundle", cwd=tmp_path)
    assert again.rc == 139, again.explain()
    bad = cli("repro", "--from", report, "--check", "debian-12/x86_64/py3.11/import::nope", cwd=tmp_path)
    assert bad.rc == 2 and "no check with id" in bad.stderr, bad.explain()


@pytest.mark.xdist_group("repro")
def test_shell_in_the_prepared_cell_through_a_real_terminal(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "runner")
    pid, fd = pty.fork()
    if pid == 0:  # the child: wheelmatrix on the terminal's slave side
        os.chdir(tmp_path)
        os.execve(
            sys.executable,
            [sys.executable, "-m", "wheelmatrix", "repro", *CELL, str(x86(wheels["collb"])), "--shell"],
            env,
        )
    seen = b""

    def read_until(marker: bytes, timeout: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while marker not in seen:
            left = deadline - time.monotonic()
            assert left > 0, seen.decode(errors="replace")[-2000:]
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                try:
                    seen += os.read(fd, 4096)
                except OSError:
                    break

    read_until(b"$ ", 300)
    os.write(fd, b"python -c 'import wmcollb, sys, os; print(\"in\", sys.prefix, os.getuid())'\n")
    read_until(b"in /tmp/wm-venv 65534", 60)
    os.write(fd, b"python -c 'import urllib.request as u; u.urlopen(\"http://10.0.0.1\", timeout=3)' "
             b"2>&1 | tail -1\n")  # fmt: skip
    read_until(b"Error", 60)
    os.write(fd, b"exit 7\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 7, seen.decode(errors="replace")[-2000:]
    text = seen.decode(errors="replace")
    assert "no network" in text and "container is removed on exit" in text
    assert "Network is unreachable" in text or "URLError" in text, text[-2000:]


def test_bad_input_starts_nothing_and_damages_nothing(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    run = cli("repro", *CELL, *pair(wheels), "--bundle", taken, cwd=tmp_path)
    assert run.rc == 2 and "not an empty directory" in run.stderr, run.explain()
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    for args, message in (
        ((str(x86(wheels["colla"])),), "needs --distro ID and --arch ARCH"),
        ((*CELL, "--", "true"), "needs at least one wheel file or requirement"),
        (("--distro", "debian-99", "--arch", "x86_64", "numpy"), "debian-99"),
        ((*CELL, "x; rm -rf /"), "'x; rm -rf /': not a valid requirement"),
    ):
        bad = cli("repro", *args, cwd=tmp_path)
        assert bad.rc == 2 and message in bad.stderr, bad.explain()
    assert json.dumps(sorted(p.name for p in tmp_path.iterdir())) == json.dumps(["taken"])
