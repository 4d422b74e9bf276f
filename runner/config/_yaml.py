"""Strict YAML helpers: every key checked, every error names the file and the key path."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from runner.errors import InputError, did_you_mean


def load_yaml_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            f"{path}: invalid YAML{where}: {problem}",
            hint="fix the syntax (indentation, quoting) and run again",
        ) from None


class Node:
    """A mapping read from YAML that remembers where it came from (for error messages)."""

    def __init__(self, source: Path, where: str, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise InputError(f"{source}: {where or 'top level'} must be a mapping, got {_kind(value)}")
        self.source = source
        self.where = where
        self.value: Mapping[str, Any] = value

    def check_keys(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required = list(required)
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                raise InputError(
                    f"{self.source}: unknown key '{self.path(str(key))}'{did_you_mean(str(key), allowed)}",
                    hint=f"allowed keys here: {', '.join(sorted(allowed))}",
                )
        for key in required:
            if key not in self.value:
                raise InputError(f"{self.source}: missing required key '{self.path(key)}'")

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.value

    def child(self, key: str) -> Node:
        return Node(self.source, self.path(key), self.value[key])

    def text(self, key: str, default: str | None = None) -> str:
        value = self.value.get(key, default)
        if isinstance(value, float):
            raise InputError(
                f"{self.source}: '{self.path(key)}' is the number {value!r} in YAML; "
                f'quote it ("{value}" may have lost a trailing zero)'
            )
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise InputError(f"{self.source}: '{self.path(key)}' must be a non-empty string")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.value.get(key, default)
        if not isinstance(value, bool):
            raise InputError(f"{self.source}: '{self.path(key)}' must be true or false")
        return value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.value.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InputError(f"{self.source}: '{self.path(key)}' must be a list of strings")
        return tuple(value)

    def text_map(self, key: str) -> dict[str, str]:
        node = self.child(key)
        out: dict[str, str] = {}
        for k in node.value:
            out[str(k)] = node.text(str(k))
        return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
