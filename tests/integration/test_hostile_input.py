"""Issue 17 in real containers: a wheel whose member escapes is refused before any container
starts, and a program that prints a forged probe record in `repro`'s echo mode does not decide
the outcome."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, cli
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
CELL = ("--distro", "debian-12", "--arch", "x86_64")


def _escaping_wheel(good: Path, dest: Path) -> Path:
    """The pure fixture wheel with one more member that climbs out of site-packages."""
    out = dest / good.name
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("../../../../tmp/wm-escaped.txt", b"written outside the environment\n")
    return out


def test_an_escaping_member_is_refused_and_nothing_starts(wheels: dict[str, Fixture], tmp_path: Path) -> None:
    import docker

    bad = _escaping_wheel(wheels["pure"].wheels[0], tmp_path)
    since = int(time.time()) - 1
    env = {**os.environ, "PYTHONPATH": str(REPO / "runner")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wheelmatrix",
            "validate",
            str(bad),
            *CELL,
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, (out, err)
    assert "../../../../tmp/wm-escaped.txt" in err and bad.name in err, err
    assert "Traceback" not in err
    created = docker.from_env().events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"org.wheelmatrix.pid={proc.pid}"},
    )
    assert list(created) == [], "a refused wheel must not start any container"


def test_a_forged_probe_record_in_echo_mode_is_only_output(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    forged = '@@WM@@ {"check": {"rc": 0, "status": "passed"}}'
    program = f"print({forged!r}); print('@@WM@@ {{bad'); raise SystemExit(3)"
    run = cli(
        "repro", *CELL, wheels["pure"].wheels[0], "--no-bundle", "--", "python", "-c", program, cwd=tmp_path
    )
    assert run.rc == 3, run.explain()  # the program's own exit code, not the forged rc 0
    assert forged in run.stdout and "@@WM@@ {bad" in run.stdout, run.explain()
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.explain()
