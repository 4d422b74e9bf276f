"""Scenario definitions (scenarios/*.yaml)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.config._yaml import Node, load_yaml_file
from runner.errors import InputError, did_you_mean

KINDS = ("import", "symbols")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    name: str
    kind: str
    description: str


def load_scenarios(path: Path) -> dict[str, Scenario]:
    root = Node(path, "", load_yaml_file(path))
    root.check_keys(["scenarios"])
    node = root.child("scenarios")
    out: dict[str, Scenario] = {}
    for key in node.value:
        sn = node.child(str(key))
        sn.check_keys(["kind", "description"])
        kind = sn.text("kind")
        if kind not in KINDS:
            raise InputError(f"{path}: '{sn.path('kind')}': unknown kind '{kind}'{did_you_mean(kind, KINDS)}")
        out[str(key)] = Scenario(name=str(key), kind=kind, description=sn.text("description"))
    return out


def select_scenarios(known: Mapping[str, Scenario], names: list[str]) -> list[Scenario]:
    if not names:
        return list(known.values())
    out = []
    for name in names:
        if name not in known:
            raise InputError(
                f"unknown scenario '{name}'{did_you_mean(name, known)}",
                hint=f"built-in scenarios: {', '.join(known)}",
            )
        out.append(known[name])
    return out


def default_scenarios_path() -> Path:
    return Path(__file__).resolve().parents[2] / "scenarios" / "builtin.yaml"
