"""Result records: immutable, one per check, streamed as they finish."""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from runner.errors import EXIT_CHECK_FAILED, EXIT_INFRASTRUCTURE, EXIT_OK


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # a Python exception (or the installer rejected the set)
    CRASHED = "crashed"  # killed by a signal
    TIMED_OUT = "timed-out"
    NOT_INSTALLABLE = "not-installable"
    ERROR = "error"  # the infrastructure broke; never blamed on the wheel

    def __str__(self) -> str:
        return self.value

    @property
    def is_wheel_failure(self) -> bool:
        return self in (Status.FAILED, Status.CRASHED, Status.TIMED_OUT)


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    distro: str
    arch: str
    python: str
    scenario: str
    check: str
    status: Status
    detail: str = ""
    duration_s: float = 0.0
    installer: str = ""
    wheels: tuple[str, ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)
    diagnosis: str = ""  # one line: why it broke (or what was predicted), from runner/diagnose.py
    variant: str = ""  # the known-problem set added as companions, if any

    @property
    def row(self) -> str:
        base = f"{self.distro}/{self.arch}/py{self.python}"
        return f"{base} +{self.variant}" if self.variant else base

    def to_json(self) -> dict[str, Any]:
        return {
            "distro": self.distro,
            "arch": self.arch,
            "python": self.python,
            "scenario": self.scenario,
            "check": self.check,
            "status": self.status.value,
            "detail": self.detail,
            "duration_s": round(self.duration_s, 3),
            "installer": self.installer,
            "wheels": list(self.wheels),
            "diagnosis": self.diagnosis,
            "variant": self.variant,
            "evidence": dict(self.evidence),
        }


def exit_code(results: Iterable[CheckResult]) -> int:
    """1 when a check failed, crashed or timed out; else 3 when infrastructure broke; else 0."""
    statuses = {r.status for r in results}
    if any(s.is_wheel_failure for s in statuses):
        return EXIT_CHECK_FAILED
    if Status.ERROR in statuses:
        return EXIT_INFRASTRUCTURE
    return EXIT_OK


class ResultLog:
    """Thread-safe collector that also appends each result to a JSON-lines file as it lands."""

    def __init__(self, stream_path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._results: list[CheckResult] = []
        self._stream: IO[str] | None = None
        if stream_path is not None:
            stream_path.parent.mkdir(parents=True, exist_ok=True)
            self._stream = stream_path.open("a", encoding="utf-8")

    def add(self, result: CheckResult) -> None:
        with self._lock:
            self._results.append(result)
            if self._stream is not None:
                self._stream.write(json.dumps(result.to_json()) + "\n")
                self._stream.flush()

    @property
    def results(self) -> list[CheckResult]:
        with self._lock:
            return list(self._results)

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
