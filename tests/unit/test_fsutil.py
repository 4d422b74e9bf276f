from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from wheelmatrix.fsutil import atomic_write_json, atomic_write_text, pid_alive


def test_atomic_write_text_creates_the_directory_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "report.md"
    atomic_write_text(out, "one\n")
    atomic_write_text(out, "two\n")
    assert out.read_text() == "two\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.md"]


def test_atomic_write_json_is_indented_with_a_final_newline(tmp_path: Path) -> None:
    out = tmp_path / "meta.json"
    atomic_write_json(out, {"state": "running"})
    assert out.read_text().endswith("}\n")
    assert json.loads(out.read_text()) == {"state": "running"}


def test_atomic_write_into_a_file_path_fails_and_keeps_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        atomic_write_text(blocker / "report.json", "{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert not pid_alive(0)
    assert not pid_alive(-1)
