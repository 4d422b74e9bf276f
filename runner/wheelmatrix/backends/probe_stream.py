"""Telling the probe's records from the output of what it runs, in one exec stream.

In a live session (`repro`) the probe passes the program's output through as it comes, on the
same stream as its own records, so a record line carries a per-run secret the program never
sees: the runner makes one for each probe call and hands it to the probe in the exec's
environment (TOKEN_ENV), which the probe removes from its own environment before it starts
anything. A line is a record only when it starts with MARK, the token and a space, followed by
a JSON object; any other line, a forged or malformed mark included, is output.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from wheelmatrix.probe import MARK

TOKEN_ENV = "WM_PROBE_TOKEN"  # also probe/wm_probe.py and probe/wm_symbols.py


def new_token() -> str:
    """A fresh secret for one probe call."""
    return secrets.token_hex(16)


def record_of(line: str, token: str) -> dict[str, Any] | None:
    """The record a line of the probe's output carries, or None when it is output: no mark, a
    mark without this run's token (printed by the program under test), or a malformed one."""
    prefix = f"{MARK}{token} "
    if not token or not line.startswith(prefix):
        return None
    try:
        doc = json.loads(line[len(prefix) :])
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


class ProbeStream:
    """Splits an exec's output, fed in chunks as they arrive, into the probe's records and the
    lines of output, which reach `on_output` (when given) one by one as they complete."""

    def __init__(self, token: str, on_output: Callable[[str], None] | None = None) -> None:
        self.token = token
        self.on_output = on_output
        self.records: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._pending = ""

    def feed(self, chunk: bytes | str) -> None:
        self._pending += chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else str(chunk)
        *complete, self._pending = self._pending.split("\n")
        for line in complete:
            self._line(line)

    def close(self) -> None:
        if self._pending:
            self._line(self._pending)
            self._pending = ""

    def _line(self, line: str) -> None:
        self.lines.append(line)
        record = record_of(line, self.token)
        if record is not None:
            self.records.append(record)
        elif self.on_output is not None:
            self.on_output(line)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def split_output(
    chunks: Iterable[bytes | str], token: str, on_output: Callable[[str], None] | None = None
) -> ProbeStream:
    """All of an exec's output, split (see ProbeStream)."""
    stream = ProbeStream(token, on_output)
    for chunk in chunks:
        stream.feed(chunk)
    stream.close()
    return stream
