"""Bad input starts nothing; Ctrl-C and crashes of the runner leave no containers behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, wheelmatrix
from tests.fixtures.wheels import Fixture

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("debian_images"),
    pytest.mark.xdist_group("lifecycle"),
]
LABEL = "org.wheelmatrix.kind=cell"


def _cell_containers(run_label: str | None = None) -> list[str]:
    import docker

    client = docker.from_env()
    labels = [LABEL] + ([f"org.wheelmatrix.run={run_label}"] if run_label else [])
    return [c.id for c in client.containers.list(all=True, filters={"label": labels})]


def _wait_for_containers(pid: int, timeout: float = 120) -> list[str]:
    import docker

    client = docker.from_env()
    deadline = time.time() + timeout
    while time.time() < deadline:
        mine = [c for c in client.containers.list(all=True, filters={"label": f"org.wheelmatrix.pid={pid}"})]
        if mine and all(c.status == "running" for c in mine):
            time.sleep(3)  # let the probe reach the hanging import
            return [c.id for c in mine]
        time.sleep(0.5)
    raise AssertionError("the runner started no container in time")


def _default_sigint() -> None:
    # The suite may itself run as a background job of a script (`bash scripts/test.sh &`), where
    # SIGINT is ignored and children inherit that. The runner keeps an inherited ignore (the
    # shell's convention for background jobs), so the child the test interrupts gets the
    # default disposition back, as a terminal's foreground job has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wheelmatrix", "validate", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


def test_not_a_wheel_is_bad_input_and_starts_nothing(wheels: dict[str, Fixture]) -> None:
    import docker

    broken = wheels["notawheel"].wheels[0]
    since = int(time.time()) - 1
    proc = _start([str(wheels["pure"].wheels[0]), str(broken), "--distro", "debian-12"])
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, (out, err)
    assert str(broken) in err and "not a zip archive" in err
    assert "Traceback" not in err
    created = docker.from_env().events(
        since=since,
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": f"org.wheelmatrix.pid={proc.pid}"},
    )
    assert list(created) == [], "bad input must not start any container"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--distro", "debain-12"], "did you mean 'debian-12'"),
        (["--with", "numpy; rm -rf /"], "not a valid requirement"),
    ],
)
def test_bad_arguments_exit_2(
    wheels: dict[str, Fixture], tmp_path: Path, args: list[str], message: str
) -> None:
    run = wheelmatrix(*wheels["pure"].wheels, *args, tmp=tmp_path)
    assert run.rc == 2 and message in run.stderr, run.explain()


def test_ctrl_c_removes_every_container(wheels: dict[str, Fixture]) -> None:
    proc = _start(
        [str(wheels["hang"].wheels[0]), "--distro", "debian-12", "--arch", "x86_64", "--timeout", "600"]
    )
    try:
        ids = _wait_for_containers(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in out + err
    left = set(ids) & set(_cell_containers())
    assert not left, f"containers left after Ctrl-C: {left}"


def test_containers_of_a_killed_runner_are_reaped_at_next_start(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    proc = _start(
        [str(wheels["hang"].wheels[0]), "--distro", "debian-12", "--arch", "x86_64", "--timeout", "600"]
    )
    try:
        ids = _wait_for_containers(proc.pid)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    assert set(ids) <= set(_cell_containers()), "a SIGKILLed runner cannot clean up; they must remain"
    run = wheelmatrix(*wheels["pure"].wheels, "--distro", "debian-12", "--arch", "x86_64", tmp=tmp_path)
    assert run.rc == 0, run.explain()
    # Any run that starts on this host reaps them: this one (which then says so), or a run of
    # another test worker that started in between (the suite runs in parallel).
    assert not set(ids) & set(_cell_containers())
