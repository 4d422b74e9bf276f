"""repro's echo mode: the outcome record travels with a per-call secret the program under test
never sees, so a record line the program prints is output, not the outcome; a malformed record
never crashes the runner. Driven with fake exec streams, and with the real probe run on this
host behind a fake engine API (no Docker)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from wheelmatrix.backends.docker.engine import DockerSandbox
from wheelmatrix.backends.probe_stream import TOKEN_ENV, ProbeStream, new_token, record_of, split_output
from wheelmatrix.probe import MARK, PROBE_DIR

TOKEN = "0123456789abcdef0123456789abcdef"
FORGED = (
    MARK + '{"check": {"id": "c", "rc": 0, "signal": null, "timed_out": false, "tail": "", "duration_s": 0}}'
)


def chunked(text: str, size: int) -> list[bytes]:
    data = text.encode()
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 4096])
def test_forged_and_malformed_marks_are_output_and_the_real_record_is_kept(size: int) -> None:
    real = {
        "check": {"id": "c", "rc": 1, "signal": None, "timed_out": False, "tail": "boom", "duration_s": 0.5}
    }
    lines = [
        "starting",
        FORGED,  # no token: the program printed it
        f"{MARK}{'f' * 32} {json.dumps(real)}",  # a guessed token
        f"{MARK}{TOKEN} {{bad",  # the right token, not JSON
        f"{MARK}{TOKEN} [1, 2]",  # the right token, not an object
        f"{MARK}{TOKEN} " + "[" * 50_000,  # deep enough to break a recursive parser
        f"{MARK}{TOKEN} {json.dumps(real)}",
        "partial line without newline",
    ]
    seen: list[str] = []
    stream = split_output(chunked("\n".join(lines), size), TOKEN, seen.append)
    assert stream.records == [real]
    assert seen == [line for line in lines if line != lines[6]]
    assert stream.text == "\n".join(lines)


def test_without_a_token_nothing_is_a_record() -> None:
    assert record_of(FORGED, "") is None
    assert record_of(f"{MARK}{TOKEN} {{}}", TOKEN) == {}
    assert len({new_token() for _ in range(100)}) == 100


def test_a_stream_without_output_callback_keeps_the_lines() -> None:
    stream = ProbeStream(TOKEN)
    stream.feed(FORGED + "\n")
    stream.feed(b"\xff\xfe not utf-8\n")
    stream.close()
    assert stream.records == [] and stream.lines[0] == FORGED and "not utf-8" in stream.lines[1]


# --------------------------------------------------------------------------- the real probe


PROGRAM = f"""
import os, sys
print("token seen" if any("{TOKEN_ENV}" in k for k in os.environ) else "no token")
print({FORGED!r})
print("@@WM@@ {{bad")
sys.stdout.write("no newline at the end")
sys.exit(3)
"""


class FakeApi:
    """The three exec calls DockerSandbox.probe makes, answered by running the command here."""

    def __init__(self) -> None:
        self.environment: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def exec_create(
        self, container: str, cmd: list[str], *, user: str, workdir: str, environment: dict[str, str]
    ) -> dict[str, str]:
        self.environment = dict(environment)
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", **environment},
        )
        return {"Id": "exec1"}

    def exec_start(self, exec_id: str, stream: bool = False) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        if not stream:
            return self.proc.stdout.read()
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := self.proc.stdout.read1(5):  # small chunks: lines split anywhere
            yield chunk

    def exec_inspect(self, exec_id: str) -> dict[str, int]:
        assert self.proc is not None
        return {"ExitCode": self.proc.wait()}


def sandbox(api: FakeApi) -> DockerSandbox:
    box = DockerSandbox.__new__(DockerSandbox)
    box.b = SimpleNamespace(client=SimpleNamespace(api=api))  # type: ignore[assignment]
    box.cell = SimpleNamespace(distro=SimpleNamespace(python_executable=sys.executable), label="fake")  # type: ignore[assignment]
    box.container = SimpleNamespace(id="c1")
    box.cancel = threading.Event()
    box.qemu_env = {}  # a native cell: no emulator settings
    box.probe_python = (sys.executable,)
    return box


@pytest.mark.parametrize("live", [True, False], ids=["echo", "captured"])
def test_the_program_cannot_forge_the_outcome_through_the_real_probe(live: bool) -> None:
    api = FakeApi()
    plan = {
        "timeout": 30,
        "env": {},
        "checks": [{"id": "c", "argv": [sys.executable, "-c", PROGRAM], "cwd": "/tmp"}],
    }
    seen: list[str] = []
    records = sandbox(api).probe(
        "exec",
        plan,
        user="nobody",
        budget=60,
        script=str(PROBE_DIR / "wm_probe.py"),
        on_output=seen.append if live else None,
    )
    assert list(api.environment) == [TOKEN_ENV] and len(api.environment[TOKEN_ENV]) == 32
    (record,) = records
    check = record["check"]
    assert check["rc"] == 3  # the program's real exit, not the forged rc 0
    assert "no token" in check["tail"] and "token seen" not in check["tail"]
    assert FORGED in check["tail"]
    if live:
        assert seen[:3] == ["no token", FORGED, "@@WM@@ {bad"]
        assert seen[3] == "no newline at the end"
