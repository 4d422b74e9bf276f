"""The run model: immutable result records, one per check, with stable ids, to and from JSON.

Every record says where it ran (cell id, image id, engine), with what (the sha256 of every
candidate wheel, the exact `name==version` of every distribution installed in the cell) and by
which wheelmatrix, so that results read back later (resume, compare, merge) stand on their own.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packaging.utils import canonicalize_name

from wheelmatrix import __version__
from wheelmatrix.errors import EXIT_CHECK_FAILED, EXIT_INFRASTRUCTURE, EXIT_OK

# Version of the JSON report and of the JSONL stream records. 1: wheelmatrix 0.1 (no ids);
# 2: ids and provenance; 3: every problem carries a typed `finding`. Older versions still read.
SCHEMA_VERSION = 3


def cell_id(distro: str, arch: str, python: str, scenario: str, variant: str = "") -> str:
    """Stable id of a cell: distro/arch/pyX.Y/scenario[+variant]."""
    base = f"{distro}/{arch}/py{python}/{scenario}"
    return f"{base}+{variant}" if variant else base


def check_id(cell: str, check: str) -> str:
    """Stable id of one check of a cell."""
    return f"{cell}::{check}"


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"  # a Python exception (or the installer rejected the set)
    CRASHED = "crashed"  # killed by a signal
    TIMED_OUT = "timed-out"
    NOT_INSTALLABLE = "not-installable"
    ERROR = "error"  # the infrastructure broke; never blamed on the wheel
    KNOWN = "known"  # fails the same way without the candidates: a known-problem set's own failure
    SKIPPED = "skipped"  # not run, by the project's own rule (cibuildwheel's test-skip), said why

    def __str__(self) -> str:
        return self.value

    @property
    def is_wheel_failure(self) -> bool:
        return self in (Status.FAILED, Status.CRASHED, Status.TIMED_OUT)


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """Why a check failed (or what it warns of), as a value: one kind (findings/explain.py holds
    one explainer per kind), what it is about, the fix, and the evidence that says so. Reports
    group checks by (kind, subject): one cause, one group."""

    kind: str  # e.g. "over-claimed-tag", "missing-library", "interposed-symbol"
    subject: str  # what it is about: a wheel file, library, symbol, module or package
    message: str  # one line, the same in every cell it hits
    fix: str = ""  # what to do about it
    evidence: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, doc: Any) -> Finding | None:
        """A finding from a report (None for null); ValueError for anything else."""
        if doc is None:
            return None
        if not isinstance(doc, Mapping):
            raise ValueError(f"finding is {type(doc).__name__}, not an object")
        evidence = doc.get("evidence") or {}
        if not isinstance(evidence, Mapping):
            raise ValueError("finding.evidence is not an object")
        try:
            return cls(
                kind=str(doc["kind"]),
                subject=str(doc["subject"]),
                message=str(doc["message"]),
                fix=str(doc.get("fix", "")),
                evidence=dict(evidence),
            )
        except KeyError as exc:
            raise ValueError(f"finding is missing {exc.args[0]!r}") from None


@dataclass(frozen=True, kw_only=True, slots=True)
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
    diagnosis: str = ""  # one line: why it broke (or what was predicted), from wheelmatrix/diagnose.py
    variant: str = ""  # the known-problem set added as companions, if any
    image: str = ""  # id (sha256:...) of the image the cell ran on
    engine: str = ""  # which container engine ran it (e.g. "docker 20.10.24 unix:///var/run/docker.sock")
    tool_version: str = __version__  # the wheelmatrix that produced it
    wheel_sha256: Mapping[str, str] = field(default_factory=dict)  # candidate wheel file -> sha256
    installed: tuple[str, ...] = ()  # name==version of every distribution in the cell's venv
    # distribution -> the wheel file the installer used: "file", "tag", "sha256" (null with
    # "no_hash" saying why) and "source" (local-file, pip-report, uv-cache, dist-info)
    installed_wheels: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    finished_at: float = 0.0  # unix time the result was recorded
    finding: Finding | None = None  # why it broke, typed (findings/explain.py); None when passed

    @property
    def cell_id(self) -> str:
        return cell_id(self.distro, self.arch, self.python, self.scenario, self.variant)

    @property
    def check_id(self) -> str:
        return check_id(self.cell_id, self.check)

    @property
    def installed_versions(self) -> dict[str, str]:
        """Canonical project name -> version, from `installed`."""
        return installed_versions(self.installed)

    @property
    def row(self) -> str:
        base = f"{self.distro}/{self.arch}/py{self.python}"
        return f"{base} +{self.variant}" if self.variant else base

    def to_json(self) -> dict[str, Any]:
        return {
            "cell_id": self.cell_id,
            "check_id": self.check_id,
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
            "image": self.image,
            "engine": self.engine,
            "tool_version": self.tool_version,
            "wheel_sha256": dict(self.wheel_sha256),
            "installed": list(self.installed),
            "installed_wheels": {k: dict(v) for k, v in self.installed_wheels.items()},
            "finished_at": round(self.finished_at, 3),
            "finding": self.finding.to_json() if self.finding is not None else None,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any], *, pool: ValuePool | None = None) -> CheckResult:
        """The inverse of `to_json`; also reads schema-1 records (no ids or provenance).

        With a `pool` (bulk reads: resume, compare, merge), equal strings, tuples and
        `wheel_sha256` maps are shared with the records the pool made before.
        Raises ValueError (naming the field) for a record that is not a check result."""
        if pool is not None:
            return pool.record(doc)
        try:
            evidence = doc.get("evidence") or {}
            if not isinstance(evidence, Mapping):
                raise ValueError(f"evidence is {type(evidence).__name__}, not an object")
            return cls(
                distro=str(doc["distro"]),
                arch=str(doc["arch"]),
                python=str(doc["python"]),
                scenario=str(doc["scenario"]),
                check=str(doc["check"]),
                status=Status(doc["status"]),
                detail=str(doc.get("detail", "")),
                duration_s=float(doc.get("duration_s", 0.0)),
                installer=str(doc.get("installer", "")),
                wheels=tuple(map(str, doc.get("wheels") or ())),
                evidence=dict(evidence),
                diagnosis=str(doc.get("diagnosis", "")),
                variant=str(doc.get("variant", "")),
                image=str(doc.get("image", "")),
                engine=str(doc.get("engine", "")),
                tool_version=str(doc.get("tool_version", "")),
                wheel_sha256={str(k): str(v) for k, v in (doc.get("wheel_sha256") or {}).items()},
                installed=tuple(map(str, doc.get("installed") or ())),
                installed_wheels=_picked(doc.get("installed_wheels")),
                finished_at=float(doc.get("finished_at", 0.0)),
                finding=Finding.from_json(doc.get("finding")),
            )
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(str(exc)) from None


_STATUSES = {s.value: s for s in Status}
_EMPTY: Mapping[str, Any] = {}


class _SlotSetters:
    """Setters of CheckResult's slots by field name, bypassing the frozen __setattr__."""

    def __init__(self) -> None:
        for f in dataclasses.fields(CheckResult):
            setattr(self, f.name, CheckResult.__dict__[f.name].__set__)

    def __getattr__(self, name: str) -> Callable[[CheckResult, Any], None]:
        raise AttributeError(f"CheckResult has no field {name!r}")


_set = _SlotSetters()


class ValuePool:
    """Builds records read back in bulk so that they share equal values: 100,000 results of a
    run repeat a few distros, archs, images and checks, and each cell's wheel hashes and
    installed set. `pool.record(doc)` equals `CheckResult.from_json(doc)`, built faster and
    much smaller.

    Shared containers are tuples, or dicts typed read-only (`Mapping`) on the record: nobody
    may mutate them. Drop the pool after loading; the records keep what they use."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._cells: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._tuples: dict[tuple[Any, ...], tuple[str, ...]] = {}
        self._maps: dict[tuple[tuple[Any, Any], ...], dict[str, str]] = {}
        self._picks: dict[tuple[Any, ...], Mapping[str, Mapping[str, str | None]]] = {}

    def text(self, value: Any) -> str:
        value = str(value)
        return self._strings.setdefault(value, value)

    def texts(self, values: Iterable[Any]) -> tuple[str, ...]:
        key = values if type(values) is tuple else tuple(values)
        found = self._tuples.get(key)
        if found is None:
            found = self._tuples[key] = tuple(map(self.text, key))
        return found

    def mapping(self, value: Mapping[Any, Any]) -> Mapping[str, str]:
        key = tuple(value.items())
        found = self._maps.get(key)
        if found is None:
            found = self._maps[key] = {self.text(k): self.text(v) for k, v in key}
        return found

    def picked(self, value: Mapping[str, Any]) -> Mapping[str, Mapping[str, str | None]]:
        """An `installed_wheels` map, shared with equal ones (a cell's results all carry it)."""
        if not value:
            return _EMPTY
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
            return _picked(value)  # raises, naming the field
        key = tuple((k, tuple(v.items())) for k, v in value.items())
        found = self._picks.get(key)
        if found is None:
            found = self._picks[key] = _picked(value, self.text)
        return found

    def record(self, doc: Mapping[str, Any]) -> CheckResult:
        """`CheckResult.from_json(doc)`, sharing values; same errors (ValueError)."""
        try:
            get = doc.get
            key = (
                doc["distro"],
                doc["arch"],
                doc["python"],
                doc["scenario"],
                get("variant", ""),
                get("installer", ""),
                get("image", ""),
                get("engine", ""),
                get("tool_version", ""),
            )
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = tuple(map(self.text, key))
            distro, arch, python, scenario, variant, installer, image, engine, tool_version = cell
            raw_status = doc["status"]
            status = _STATUSES.get(raw_status) or Status(raw_status)
            evidence = get("evidence") or _EMPTY
            if type(evidence) is not dict and not isinstance(evidence, Mapping):
                raise ValueError(f"evidence is {type(evidence).__name__}, not an object")
            # What CheckResult(...) makes, without its __init__'s 19 object.__setattr__ calls
            # (a third of the time to read a record back); tests compare it with from_json.
            r: CheckResult = object.__new__(CheckResult)
            _set.distro(r, distro)
            _set.arch(r, arch)
            _set.python(r, python)
            _set.scenario(r, scenario)
            _set.check(r, self.text(doc["check"]))
            _set.status(r, status)
            _set.detail(r, str(get("detail", "")))
            _set.duration_s(r, float(get("duration_s", 0.0)))
            _set.installer(r, installer)
            _set.wheels(r, self.texts(get("wheels") or ()))
            _set.evidence(r, evidence)  # the parser's own fresh dict: nothing else holds it
            _set.diagnosis(r, str(get("diagnosis", "")))
            _set.variant(r, variant)
            _set.image(r, image)
            _set.engine(r, engine)
            _set.tool_version(r, tool_version)
            _set.wheel_sha256(r, self.mapping(get("wheel_sha256") or _EMPTY))
            _set.installed(r, self.texts(get("installed") or ()))
            _set.installed_wheels(r, self.picked(get("installed_wheels") or _EMPTY))
            _set.finished_at(r, float(get("finished_at", 0.0)))
            _set.finding(r, Finding.from_json(get("finding")))
            return r
        except KeyError as exc:
            raise ValueError(f"missing field {exc.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(str(exc)) from None


def _picked(value: Any, text: Callable[[Any], str] = str) -> dict[str, dict[str, str | None]]:
    """`installed_wheels` read back: each distribution's entry with text values (null kept)."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"installed_wheels is {type(value).__name__}, not an object")
    out: dict[str, dict[str, str | None]] = {}
    for dist, entry in value.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"installed_wheels[{dist!r}] is {type(entry).__name__}, not an object")
        out[text(dist)] = {text(k): None if v is None else text(v) for k, v in entry.items()}
    return out


def installed_versions(installed: Iterable[str]) -> dict[str, str]:
    """Canonical project name -> version, from `name==version` items."""
    out: dict[str, str] = {}
    for item in installed:
        name, _, version = item.partition("==")
        out[canonicalize_name(name)] = version
    return out


def exit_code(results: Iterable[CheckResult]) -> int:
    """1 when a check failed, crashed or timed out; else 3 when infrastructure broke; else 0."""
    statuses = {r.status for r in results}
    if any(s.is_wheel_failure for s in statuses):
        return EXIT_CHECK_FAILED
    if Status.ERROR in statuses:
        return EXIT_INFRASTRUCTURE
    return EXIT_OK
