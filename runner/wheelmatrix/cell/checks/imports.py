"""The import scenario: which interpreters to start and how to read their outcome."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wheelmatrix.model import Status


@dataclass(frozen=True, kw_only=True)
class ImportCheck:
    id: str
    modules: tuple[str, ...]

    @property
    def text(self) -> str:
        return "import " + ", ".join(self.modules)

    @property
    def code(self) -> str:
        return "\n".join(f"import {m}" for m in self.modules)


def plan_import_checks(
    candidates: Sequence[tuple[str, Sequence[str]]],
    companions: Sequence[tuple[str, Sequence[str]]],
) -> list[ImportCheck]:
    """Each candidate module alone; then everything together, candidates first and last.

    `candidates` and `companions` are (project, modules) pairs in the user's order. Without
    companions but with several candidates, the two orders are the given one and its reverse.
    """
    checks: list[ImportCheck] = []
    seen: set[tuple[str, ...]] = set()

    def add(mods: Sequence[str]) -> None:
        key = tuple(dict.fromkeys(mods))
        if key and key not in seen:
            seen.add(key)
            checks.append(ImportCheck(id=f"c{len(checks)}", modules=key))

    for _project, mods in candidates:
        for mod in mods:
            add([mod])
    cand_mods = [m for _p, mods in candidates for m in mods]
    comp_mods = [m for _p, mods in companions for m in mods]
    if comp_mods:
        add(cand_mods + comp_mods)
        add(comp_mods + cand_mods)
    elif len(candidates) > 1:
        add(cand_mods)
        add([m for _p, mods in reversed(candidates) for m in mods])
    return checks


_EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Warning|Interrupt)\b.*|[A-Za-z_][\w.]*: .*)$")


def last_exception(output: str) -> str:
    """The exception line of a traceback ('ImportError: ...'), else the last output line."""
    lines = [ln.rstrip() for ln in output.splitlines() if ln.strip()]
    for line in reversed(lines):
        if not line.startswith((" ", "\t")) and _EXC_LINE.match(line):
            return line
    return lines[-1] if lines else "no output"


def innermost_frame(output: str) -> str | None:
    """The most recent Python frame faulthandler printed ('File "x.py", line 3 in f').

    faulthandler prints the most recent call first; importlib's own frozen frames are passed
    over so that the frame names the package code (e.g. the __init__.py being imported).
    """
    frames = [ln.strip() for ln in output.splitlines() if ln.strip().startswith("File ")]
    own = [f for f in frames if not f.startswith('File "<frozen')]
    chosen = own or frames
    return chosen[0] if chosen else None


def classify(outcome: Mapping[str, Any], timeout_s: float) -> tuple[Status, str]:
    """Turn the probe's raw record of one interpreter run into (status, one-line detail)."""
    output = str(outcome.get("tail") or "")
    if outcome.get("timed_out"):
        frame = innermost_frame(output)
        where = f"; stuck at {frame}" if frame else ""
        return Status.TIMED_OUT, f"did not finish within {timeout_s:g} s{where}"
    rc = outcome.get("rc")
    if rc == 0:
        return Status.PASSED, ""
    if outcome.get("signal"):
        frame = innermost_frame(output)
        fatal = next((ln for ln in output.splitlines() if ln.startswith("Fatal Python error")), "")
        bits = [str(outcome["signal"])]
        if fatal:
            bits.append(fatal)
        if frame:
            bits.append(f"in {frame}")
        return Status.CRASHED, "; ".join(bits)
    return Status.FAILED, last_exception(output)
