"""Several real engines: the local dockerd and a second dockerd started here with its own data
root and bridge, reached over TCP on 127.0.0.1 (so nothing is bind-mounted: the runner shares
no path with it). Cells run on both; an engine stopped mid-run has its cells moved; the only
engine restarted mid-run has its cells retried; the reports are always written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli
from tests.fixtures.wheels import write_wheel

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
PORT = 23751
URL = f"tcp://127.0.0.1:{PORT}"
ROOT = Path("/var/lib/wheelmatrix-test-engine")
RUN = Path("/run/wheelmatrix-test-engine")
BRIDGE = "wmtestbr0"


class SecondEngine:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", "10.231.0.1/24", "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        ROOT.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        log = open(RUN / "dockerd.log", "ab")  # noqa: SIM115 (kept open for the daemon's life)
        self.proc = subprocess.Popen(
            [
                "dockerd", "--host", URL, "--data-root", str(ROOT), "--exec-root", str(RUN / "exec"),
                "--pidfile", str(RUN / "dockerd.pid"), "--bridge", BRIDGE, "--iptables=false",
                "--ip-masq=false",
            ],
            stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while subprocess.run(["docker", "-H", URL, "version"], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, (RUN / "dockerd.log").read_text()[-2000:]
            assert self.proc.poll() is None, (RUN / "dockerd.log").read_text()[-2000:]
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        self.proc = None


@pytest.fixture(scope="module")
def second() -> Iterator[SecondEngine]:
    if os.geteuid() != 0:
        pytest.fail("the two-engine tests start a second dockerd: they need root (as .ci/run has)")
    engine = SecondEngine()
    engine.start()
    yield engine
    engine.stop()


def slow_wheel(dest: Path, seconds: float) -> Path:
    code = f"import time\ntime.sleep({seconds})\n".encode()
    return write_wheel(dest, "wmslow", "1.0", "py3-none-any", {"wmslow/__init__.py": code}, purelib=True)


def engines_of(report: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in json.loads(report.read_text())["results"]:
        out.setdefault(r["engine"], set()).add(r["cell_id"])
    return out


@pytest.mark.xdist_group("engines")
def test_cells_on_two_engines_and_one_stopped_mid_run(second: SecondEngine, tmp_path: Path) -> None:
    wheel = slow_wheel(tmp_path / "w", 10)
    args = [
        "validate", wheel, "--distro", "debian-11", "--distro", "debian-12", "--distro", "debian-13",
        "--arch", "x86_64", "--scenario", "import", "--jobs", "4", "--runs-dir", tmp_path / "runs",
        "--engine", "unix:///var/run/docker.sock", "--engine", URL,
    ]  # fmt: skip
    both = cli(*args, "--json", tmp_path / "both.json", cwd=tmp_path)
    assert both.rc == 0, both.explain()
    used = engines_of(tmp_path / "both.json")
    assert len(used) == 2 and any("127.0.0.1" in e for e in used), used  # cells on both engines

    # now stop the TCP engine while its cells run: they move to the local engine
    stopper = threading.Timer(6.0, second.stop)
    stopper.start()
    try:
        moved = cli(*args, "--json", tmp_path / "moved.json", cwd=tmp_path)
    finally:
        stopper.cancel()
        second.stop()
        second.start()
    assert moved.rc == 0, moved.explain()
    doc = json.loads((tmp_path / "moved.json").read_text())
    assert len({r["cell_id"] for r in doc["results"]}) == 3
    assert all(r["status"] == "passed" for r in doc["results"]), moved.explain()
    assert "stopped answering" in moved.stdout, moved.explain()


@pytest.mark.xdist_group("engines")
def test_the_only_engine_restarts_mid_run_and_its_cells_are_retried(
    second: SecondEngine, tmp_path: Path
) -> None:
    wheel = slow_wheel(tmp_path / "w", 10)

    def restart() -> None:
        second.stop()
        time.sleep(3)
        second.start()

    timer = threading.Timer(5.0, restart)
    timer.start()
    try:
        run = cli(
            "validate", wheel, "--distro", "debian-11", "--distro", "debian-12", "--arch", "x86_64",
            "--scenario", "import", "--engine", URL, "--runs-dir", tmp_path / "runs",
            "--json", tmp_path / "r.json", cwd=tmp_path,
        )  # fmt: skip
    finally:
        timer.join()
    assert run.rc == 0, run.explain()
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {r["status"] for r in doc["results"]} == {"passed"}, run.explain()
    assert "answers again" in run.stdout, run.explain()
    # nothing of this run is left on the engine
    left = subprocess.run(
        ["docker", "-H", URL, "ps", "-aq", "--filter", "label=org.wheelmatrix.kind=cell"],
        capture_output=True,
        text=True,
    )
    assert left.stdout.strip() == "", left.stdout
