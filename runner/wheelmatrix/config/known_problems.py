"""The known-problem catalog (scenarios/known-problems.yaml): package sets that break together."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from wheelmatrix.config._yaml import Node, load_yaml_file
from wheelmatrix.config.catalog import ARCHES, LIBC_FAMILIES, Distro, parse_version
from wheelmatrix.errors import InputError
from wheelmatrix.inputs.wheels import parse_requirement
from wheelmatrix.model import Status


@dataclass(frozen=True, kw_only=True)
class KnownProblem:
    id: str
    packages: tuple[str, ...]  # requirements installed as companions
    imports: tuple[str, ...]  # extra modules to import (a submodule that loads the runtime)
    pythons: tuple[str, ...]
    archs: tuple[str, ...]
    libc: tuple[str, ...]
    symptom: str
    statuses: tuple[Status, ...]  # signature: the status ...
    pattern: re.Pattern[str]  # ... and a regex over the detail and diagnosis
    root_cause: str
    reference: str
    verified: tuple[str, ...]  # where it reproduced, e.g. "debian-11/x86_64 (2026-11-24)"
    affects: tuple[str, ...] = ()  # requirements with the version ranges it affects; () = `packages`

    @property
    def projects(self) -> frozenset[str]:
        return frozenset(parse_requirement(p).project for p in self.packages)

    def applies(self, distro: Distro, arch: str) -> bool:
        return distro.python in self.pythons and arch in self.archs and distro.libc.family in self.libc

    def matches(self, status: Status, text: str) -> bool:
        return status in self.statuses and bool(self.pattern.search(text))

    def covers(self, versions: Mapping[str, str]) -> bool:
        """Whether a cell with these installed versions (canonical name -> version) has every
        package the entry affects, each at a version in the entry's range."""
        for text in self.affects or self.packages:
            req = Requirement(text)
            have = versions.get(canonicalize_name(req.name))
            if have is None or (req.specifier and not req.specifier.contains(have, prereleases=True)):
                return False
        return True


def load_known_problems(path: Path) -> list[KnownProblem]:
    root = Node(path, "", load_yaml_file(path))
    root.check_keys(["problems"])
    node = root.child("problems")
    out = []
    for key in node.value:
        entry = node.child(str(key))
        entry.check_keys(
            ["packages", "pythons", "archs", "symptom", "signature", "root_cause", "reference"],
            ["imports", "libc", "verified", "affects"],
        )
        for version in entry.texts("pythons"):
            parse_version(version, f"{path}: {entry.path('pythons')}")
        for arch in entry.texts("archs"):
            if arch not in ARCHES:
                raise InputError(f"{path}: '{entry.path('archs')}': unknown arch '{arch}'")
        libc = entry.texts("libc", ("glibc",))
        if not set(libc) <= set(LIBC_FAMILIES):
            raise InputError(f"{path}: '{entry.path('libc')}' must list {LIBC_FAMILIES}")
        packages = entry.texts("packages")
        affects = entry.texts("affects")
        for req in (*packages, *affects):
            try:
                parse_requirement(req)
            except InputError as exc:
                where = entry.path("packages" if req in packages else "affects")
                raise InputError(f"{path}: '{where}': {exc.message}", hint=exc.hint) from None
        sig = entry.child("signature")
        sig.check_keys(["status", "pattern"])
        try:
            statuses = tuple(Status(s) for s in sig.texts("status"))
        except ValueError as exc:
            raise InputError(f"{path}: '{sig.path('status')}': {exc}") from None
        try:
            pattern = re.compile(sig.text("pattern"))
        except re.error as exc:
            raise InputError(f"{path}: '{sig.path('pattern')}': invalid regular expression: {exc}") from None
        out.append(
            KnownProblem(
                id=str(key),
                packages=packages,
                imports=entry.texts("imports"),
                pythons=entry.texts("pythons"),
                archs=entry.texts("archs"),
                libc=libc,
                symptom=entry.text("symptom"),
                statuses=statuses,
                pattern=pattern,
                root_cause=entry.text("root_cause"),
                reference=entry.text("reference"),
                verified=entry.texts("verified"),
                affects=affects,
            )
        )
    return out


def default_known_problems_path() -> Path:
    from wheelmatrix.resources import data_path

    return data_path("known-problems.yaml")
