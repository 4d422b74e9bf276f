"""Checking a JSON document read from a stranger (a report, a stream line) against the JSON
Schemas shipped in wheelmatrix/data/schemas/, before anything uses it.

A small validator of the keywords those schemas use (type, const, enum, required, properties,
additionalProperties, items, $ref to #/$defs, minimum, minLength, pattern, allOf, if/then,
oneOf); the `jsonschema` package is a test dependency only, and the tests hold this validator
to it. Beyond the schema, every number must be finite and fit in 64 bits, and nesting is
bounded. The answer is the first problem with its JSON path (`results[3].duration_s`).

May import the base modules only.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wheelmatrix.resources import data_path

MAX_DEPTH = 64  # reports and stream lines nest about 6 levels; evidence a few more
_INT64 = 1 << 63
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


@dataclass(frozen=True)
class Problem:
    """Where a document breaks its schema and how."""

    path: str  # e.g. results[3].duration_s ("" for the document itself)
    message: str

    def __str__(self) -> str:
        return f"{self.path or 'the document'} {self.message}"


@functools.cache
def schema(name: str) -> Mapping[str, Any]:
    """A shipped schema by name: 'report' or 'results-line'."""
    doc: Mapping[str, Any] = json.loads(data_path(f"schemas/{name}.schema.json").read_text(encoding="utf-8"))
    return doc


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return (
        "an array"
        if isinstance(value, list)
        else "an object"
        if isinstance(value, dict)
        else type(value).__name__
    )


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    return isinstance(value, _TYPES[kind])


class _Validator:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        if not ref.startswith("#/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target[part]
        return self.resolve(target)

    def check(self, value: Any, node: Mapping[str, Any], path: str) -> Problem | None:
        node = self.resolve(node)
        kind = node.get("type")
        if kind is not None:
            kinds = kind if isinstance(kind, list) else [kind]
            if not any(_is(value, k) for k in kinds):
                return Problem(path, f"must be {' or '.join(kinds)}, got {_describe(value)}")
        if "const" in node and not (value == node["const"] and type(value) is type(node["const"])):
            return Problem(path, f"must be {json.dumps(node['const'])}")
        if "enum" in node and not any(value == e and type(value) is type(e) for e in node["enum"]):
            shown = ", ".join(json.dumps(e) for e in node["enum"])
            return Problem(path, f"must be one of {shown}")
        if isinstance(value, str):
            if len(value) < node.get("minLength", 0):
                return Problem(path, "must not be empty")
            pattern = node.get("pattern")
            if pattern is not None and not _pattern(pattern).search(value):
                return Problem(path, f"must match {pattern}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in node and value < node["minimum"]:
                return Problem(path, f"must be at least {node['minimum']}")
        elif isinstance(value, dict):
            problem = self.check_object(value, node, path)
            if problem:
                return problem
        elif isinstance(value, list) and "items" in node:
            items = node["items"]
            for index, item in enumerate(value):
                problem = self.check(item, items, _join(path, index))
                if problem:
                    return problem
        for sub in node.get("allOf", ()):
            problem = self.check(value, sub, path)
            if problem:
                return problem
        if "if" in node and self.check(value, node["if"], path) is None and "then" in node:
            problem = self.check(value, node["then"], path)
            if problem:
                return problem
        if "oneOf" in node:
            return self.one_of(value, node["oneOf"], path)
        return None

    def check_object(self, value: dict[str, Any], node: Mapping[str, Any], path: str) -> Problem | None:
        for key in node.get("required", ()):
            if key not in value:
                return Problem(_join(path, key), "is missing")
        properties: Mapping[str, Any] = node.get("properties", {})
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None:
                if extra is False:
                    return Problem(_join(path, key), "is not a known field")
                if extra is True:
                    continue
                sub = extra
            problem = self.check(item, sub, _join(path, key))
            if problem:
                return problem
        return None

    def one_of(self, value: Any, options: list[Mapping[str, Any]], path: str) -> Problem | None:
        problems = [self.check(value, option, path) for option in options]
        fits = sum(1 for p in problems if p is None)
        if fits == 1:
            return None
        if fits == 0:
            # the closest: the option whose problem lies deepest in the document
            return max((p for p in problems if p is not None), key=lambda p: len(p.path))
        return Problem(path, "matches more than one kind of record")


@functools.cache
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


_CONTAINERS = (dict, list)


def sane(value: Any, path: str = "") -> Problem | None:
    """What no schema says: numbers finite and within 64 bits, strings valid Unicode (no lone
    surrogates), nesting at most MAX_DEPTH levels. Iterative: a deep document cannot overflow.
    A quick pass without paths; the path is found only for a document that fails it."""
    return None if _quick_sane(value) else _locate_insane(value, path)


def _quick_sane(value: Any) -> bool:
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        kind = type(item)
        if kind is dict:
            if depth >= MAX_DEPTH:
                return False
            for key, sub in item.items():
                if not key.isascii() and not _unicode(key):
                    return False
                if type(sub) in _SCALAR_OK:
                    continue
                push((sub, depth + 1))
        elif kind is list:
            if depth >= MAX_DEPTH:
                return False
            for sub in item:
                if type(sub) in _SCALAR_OK:
                    continue
                push((sub, depth + 1))
        elif kind is str:
            if not item.isascii() and not _unicode(item):
                return False
        elif kind is float:
            if not math.isfinite(item):
                return False
        elif kind is int and not -_INT64 <= item < _INT64:
            return False
    return True


_SCALAR_OK = frozenset({bool, type(None)})


def _locate_insane(value: Any, path: str) -> Problem | None:
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                return Problem(where, f"is nested more than {MAX_DEPTH} levels deep")
            for key, sub in item.items():
                if isinstance(key, str) and not _unicode(key):
                    return Problem(where, "has a key that is not valid Unicode (a lone surrogate)")
                stack.append((sub, _join(where, key), depth + 1))
        elif isinstance(item, list):
            if depth >= MAX_DEPTH:
                return Problem(where, f"is nested more than {MAX_DEPTH} levels deep")
            stack.extend((sub, _join(where, i), depth + 1) for i, sub in enumerate(item))
        elif isinstance(item, float):
            if not math.isfinite(item):
                return Problem(where, f"is {item}, not a finite number")
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -_INT64 <= item < _INT64:
                return Problem(where, "is a number too large to be one wheelmatrix writes")
        elif isinstance(item, str) and not _unicode(item):
            return Problem(where, "is not valid Unicode text (a lone surrogate)")
    return None


def _unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


Check = Callable[[Any], bool]
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


class _Compiler:
    """A schema node as one predicate (no paths: the quick pass over a valid document); a
    document it refuses is walked again by _Validator to say where and why."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.resolver = _Validator(root)
        self.done: dict[int, Check] = {}

    def compile(self, node: Mapping[str, Any]) -> Check:
        node = self.resolver.resolve(node)
        key = id(node)
        if key not in self.done:
            self.done[key] = lambda value: True  # a recursive $ref sees itself (none today)
            self.done[key] = self._build(node)
        return self.done[key]

    def _build(self, node: Mapping[str, Any]) -> Check:
        parts: list[Check] = []
        if "type" in node:
            kinds = node["type"] if isinstance(node["type"], list) else [node["type"]]
            allowed = frozenset(t for k in kinds for t in _PY_TYPES[k])
            parts.append(lambda v: type(v) in allowed)
        if "const" in node:
            const = (type(node["const"]), node["const"])
            parts.append(lambda v: type(v) not in _CONTAINERS and (type(v), v) == const)
        if "enum" in node:
            options = frozenset((type(e), e) for e in node["enum"])
            parts.append(lambda v: type(v) not in _CONTAINERS and (type(v), v) in options)
        min_length, pattern = node.get("minLength", 0), node.get("pattern")
        if min_length or pattern is not None:
            regex = _pattern(pattern) if pattern is not None else None
            parts.append(
                lambda v: (
                    type(v) is not str or (len(v) >= min_length and (regex is None or bool(regex.search(v))))
                )
            )
        if "minimum" in node:
            low = node["minimum"]
            parts.append(lambda v: type(v) not in (int, float) or v >= low)
        if any(k in node for k in ("required", "properties", "additionalProperties")):
            parts.append(self._object(node))
        if "items" in node:
            item = self.compile(node["items"])
            parts.append(lambda v: type(v) is not list or all(map(item, v)))
        for sub in node.get("allOf", ()):
            parts.append(self.compile(sub))
        if "if" in node and "then" in node:
            when, then = self.compile(node["if"]), self.compile(node["then"])
            parts.append(lambda v: not when(v) or then(v))
        if "oneOf" in node:
            options_ = [self.compile(o) for o in node["oneOf"]]
            parts.append(lambda v: sum(1 for o in options_ if o(v)) == 1)
        if len(parts) == 1:
            return parts[0]
        return lambda v: all(p(v) for p in parts)

    def _object(self, node: Mapping[str, Any]) -> Check:
        required = tuple(node.get("required", ()))
        properties = {k: self.compile(sub) for k, sub in node.get("properties", {}).items()}
        extra = node.get("additionalProperties", True)
        other: Check | None = None if isinstance(extra, bool) else self.compile(extra)
        closed = extra is False

        def check(v: Any) -> bool:
            if type(v) is not dict:
                return True
            for key in required:
                if key not in v:
                    return False
            for key, item in v.items():
                sub = properties.get(key)
                if sub is not None:
                    if not sub(item):
                        return False
                elif closed or other is not None and not other(item):
                    return False
            return True

        return check


@functools.cache
def _compiled(name: str, definition: str | None) -> Check:
    root = schema(name)
    return _Compiler(root).compile(root["$defs"][definition] if definition else root)


def first_problem(doc: Any, name: str, definition: str | None = None, path: str = "") -> Problem | None:
    """The first way `doc` breaks the shipped schema `name` (or its `$defs/definition`), or
    the sanity rules of `sane`; None when it holds."""
    problem = sane(doc, path)
    if problem:
        return problem
    if _compiled(name, definition)(doc):
        return None
    root = schema(name)
    node = root["$defs"][definition] if definition else root
    return _Validator(root).check(doc, node, path) or Problem(path, "does not match its schema")
