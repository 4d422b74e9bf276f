"""Strict YAML helpers: every key checked, every error names the file, the line and the key path.

Mappings and lists read by `load_yaml_file` / `load_yaml_text` remember where each key and item
came from (`LineDict`, `LineList`), so that `Node` errors read `FILE:LINE: ...`. Plain mappings
(e.g. a TOML table read with tomllib, which has no positions) work too: errors then name the
file and the dotted key path only.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from wheelmatrix.config.limits import Bounds, clipped
from wheelmatrix.errors import InputError, did_you_mean

Position = tuple[int, int]  # 1-based line and column


class LineDict(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each of its keys."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.key_positions: dict[Any, Position] = {}


class LineList(list[Any]):
    """A YAML sequence that remembers the line of itself and of each of its items."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None
        self.item_positions: list[Position] = []


# libyaml's parser when PyYAML has it (about 10x faster on a large catalog); marks are the same.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader whose mappings and sequences carry line numbers; duplicate keys are refused."""

    def __init__(self, stream: str, line_offset: int = 0) -> None:
        super().__init__(stream)
        self.line_offset = line_offset

    def position(self, node: yaml.Node) -> Position:
        return node.start_mark.line + 1 + self.line_offset, node.start_mark.column + 1


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = loader.position(node)[0]
    yield data
    seen: dict[tuple[str, str], int] = {}
    for key_node, _value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            ident = (key_node.tag, key_node.value)
            line = loader.position(key_node)[0]
            if ident in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key '{key_node.value}' (first defined at line {seen[ident]})",
                    key_node.start_mark,
                )
            seen[ident] = line
    data.update(loader.construct_mapping(node))  # merges '<<' keys into node.value first
    for key_node, _value_node in node.value:  # later entries win, as in the dict
        data.key_positions[loader.construct_object(key_node)] = loader.position(key_node)


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = loader.position(node)[0]
    yield data
    data.extend(loader.construct_sequence(node))
    data.item_positions = [loader.position(item) for item in node.value]


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)

MAX_NUMBER_CHARS = 100  # no setting needs a longer number; int() of 4,300+ digits raises


def _checked_scalar(kind: str, construct: Any) -> Any:
    """PyYAML's constructor for `kind`, turning its Python errors on an impossible value
    (`!!int _`, `!!bool maybe`, `!!timestamp abc`, `2023-02-30`, 5,000 digits) into a YAML
    error at the value's line."""

    def checked(loader: _LineLoader, node: yaml.Node) -> Any:
        text = str(node.value)
        if kind in ("int", "float") and len(text) > MAX_NUMBER_CHARS:
            raise yaml.constructor.ConstructorError(
                None, None, f"'{clipped(text)}' is too long for a number", node.start_mark
            )
        try:
            return construct(loader, node)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            why = f": {exc}" if isinstance(exc, ValueError) else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"'{clipped(text)}' is not a valid {kind}{why}", node.start_mark
            ) from None

    return checked


for _kind_name in ("int", "float", "bool", "timestamp", "null", "binary"):
    _tag = f"tag:yaml.org,2002:{_kind_name}"
    _LineLoader.add_constructor(_tag, _checked_scalar(_kind_name, _SafeLoader.yaml_constructors[_tag]))


def load_yaml_text(text: str, source: Path, line_offset: int = 0) -> Any:
    """Parse YAML text that came from `source`; line numbers are shifted by `line_offset` (for
    YAML embedded in a larger file)."""
    loader = _LineLoader(text, line_offset)
    try:
        return loader.get_single_data()
    except RecursionError:
        raise InputError(
            f"{source}: the YAML is nested too deeply",
            hint="a run configuration or catalog is a few levels deep",
        ) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1 + line_offset}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(
            f"{source}: invalid YAML{where}: {problem}",
            hint="fix the syntax (indentation, quoting) and run again",
        ) from None
    finally:
        loader.dispose()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None


def load_yaml_file(path: Path) -> Any:
    return load_yaml_text(_read_text(path), path)


def load_toml_file(path: Path) -> dict[str, Any]:
    """A TOML file as plain dicts (tomllib keeps no positions: errors name the key path only)."""
    text = _read_text(path)
    try:
        toml = importlib.import_module("tomllib")
    except ModuleNotFoundError:  # Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ModuleNotFoundError:
            raise InputError(
                f"{path}: reading TOML needs Python 3.11 or newer, or the 'tomli' package",
                hint="pip install tomli, or use a wheelmatrix.yaml file instead",
            ) from None
    try:
        doc: dict[str, Any] = toml.loads(text)
    except toml.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}", hint="fix the syntax and run again") from None
    except RecursionError:
        raise InputError(
            f"{path}: the TOML is nested too deeply to read",
            hint="arrays and inline tables nested hundreds of levels deep are not a configuration",
        ) from None
    except ValueError as exc:  # tomllib's own int() of a value with 4,300+ digits
        why = "a number is too long" if "digits" in str(exc) else clipped(str(exc), 120)
        raise InputError(
            f"{path}: invalid TOML value: {why}", hint="no setting needs such a number"
        ) from None
    return doc


class Node:
    """A mapping read from YAML that remembers where it came from (for error messages).

    `where` is the dotted key path of the mapping ('' at the top level), `line` the line that
    introduced it (its key in the parent mapping, or its own first line) when known.
    """

    def __init__(self, source: Path, where: str, value: Any, *, line: int | None = None) -> None:
        if line is None:
            line = getattr(value, "line", None)
        self.source = source
        self.where = where
        self.start: int | None = line
        if not isinstance(value, Mapping):
            at = f"{source}:{line}" if line is not None else str(source)
            raise InputError(f"{at}: {where or 'top level'} must be a mapping, got {value_kind(value)}")
        self.value: Mapping[str, Any] = value

    # ------------------------------------------------------------------ positions and errors

    def line(self, key: str | None = None) -> int | None:
        """The line of `key` in the file; the mapping's own line if the key is absent or None."""
        positions: Mapping[Any, Position] = getattr(self.value, "key_positions", {})
        if key is not None and key in positions:
            return positions[key][0]
        return self.start

    def item_line(self, key: str, index: int) -> int | None:
        """The line of item `index` of the list under `key` (else the key's line)."""
        items: list[Position] = getattr(self.value.get(key), "item_positions", [])
        if 0 <= index < len(items):
            return items[index][0]
        return self.line(key)

    def at(self, key: str | None = None, index: int | None = None) -> str:
        """'FILE:LINE' for a key (or a list item under it), 'FILE' when the line is unknown."""
        line = self.line(key) if index is None or key is None else self.item_line(key, index)
        return f"{self.source}:{line}" if line is not None else str(self.source)

    def error(
        self, key: str | None, message: str, *, hint: str | None = None, index: int | None = None
    ) -> InputError:
        """An InputError located at `key` (or item `index` of it): `raise node.error(...)`."""
        return InputError(f"{self.at(key, index)}: {message}", hint=hint)

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def item(self, key: str, index: int) -> str:
        return f"{self.path(key)}[{index}]"

    @property
    def language(self) -> str:
        return "TOML" if self.source.suffix == ".toml" else "YAML"

    # ------------------------------------------------------------------ structure

    def check_keys(self, required: Iterable[str], optional: Iterable[str] = ()) -> None:
        required = list(required)
        allowed = set(required) | set(optional)
        for key in self.value:
            if key not in allowed:
                raise self.error(
                    str(key),
                    f"unknown key '{self.path(str(key))}'{did_you_mean(str(key), allowed)}",
                    hint=f"allowed keys here: {', '.join(sorted(allowed))}",
                )
        for key in required:
            if key not in self.value:
                raise self.error(None, f"missing required key '{self.path(key)}'")

    def has(self, key: str) -> bool:
        return key in self.value

    def child(self, key: str) -> Node:
        return Node(self.source, self.path(key), self.value[key], line=self.line(key))

    def items(self, key: str) -> list[tuple[int, Any]]:
        """The items of the list under `key`, with their index (for item errors)."""
        value = self.value.get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"'{self.path(key)}' must be a list, got {value_kind(value)}")
        return list(enumerate(value))

    def item_node(self, key: str, index: int) -> Node:
        """Item `index` of the list under `key`, as a Node (it must be a mapping)."""
        return Node(
            self.source, self.item(key, index), self.value[key][index], line=self.item_line(key, index)
        )

    # ------------------------------------------------------------------ scalars

    def _number_error(self, key: str, value: float, index: int | None = None) -> InputError:
        where = self.path(key) if index is None else self.item(key, index)
        return self.error(
            key,
            f"'{where}' is the number {value!r} in {self.language}; "
            f'quote it ("{value}" may have lost a trailing zero)',
            index=index,
        )

    def text(self, key: str, default: str | None = None) -> str:
        value = self.value.get(key, default)
        if isinstance(value, float):
            raise self._number_error(key, value)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value:
            raise self.error(key, f"'{self.path(key)}' must be a non-empty string")
        return value

    def local_path(self, key: str, text: str, base: Path, index: int | None = None) -> Path:
        """`text`, given under `key` (item `index`), as a path: `~` and `~user` expanded,
        relative to `base`, normalised. A NUL byte or an unknown user is an error here."""
        where = self.path(key) if index is None else self.item(key, index)
        if "\0" in text:
            raise self.error(key, f"'{where}': the path contains a NUL byte", index=index)
        try:
            expanded = Path(text).expanduser()
        except RuntimeError:
            raise self.error(
                key,
                f"'{where}': cannot expand '{clipped(text.split('/')[0])}': "
                "no such user or no home directory",
                hint="write the path out in full",
                index=index,
            ) from None
        return Path(os.path.normpath(base / expanded))

    def flag(self, key: str, default: bool) -> bool:
        value = self.value.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"'{self.path(key)}' must be true or false")
        return value

    def texts(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self.value.get(key, list(default))
        if not isinstance(value, list):
            raise self.error(key, f"'{self.path(key)}' must be a list of strings, got {value_kind(value)}")
        for index, item in enumerate(value):
            if isinstance(item, float):
                raise self._number_error(key, item, index)
            if not isinstance(item, str) or not item:
                what = "an empty string" if item == "" else value_kind(item)
                raise self.error(
                    key,
                    f"'{self.path(key)}' must be a list of strings (item {index + 1} is {what})",
                    index=index,
                )
        return tuple(value)

    def text_map(self, key: str) -> dict[str, str]:
        node = self.child(key)
        out: dict[str, str] = {}
        for k in node.value:
            out[str(k)] = node.text(str(k))
        return out

    def choice(self, key: str, choices: Collection[str], default: str) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.error(
                key,
                f"'{self.path(key)}': '{value}' is not one of {', '.join(choices)}"
                f"{did_you_mean(value, choices)}",
            )
        return value

    def number(self, key: str, bounds: Bounds, default: float | None = None) -> float:
        """A number of seconds and the like: int or float within `bounds` (never NaN or
        infinity); a float."""
        value = self.value.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"'{self.path(key)}' must be a number, got {value_kind(value)}")
        problem = bounds.problem(value)
        if problem:
            raise self.error(key, f"'{self.path(key)}': {problem}")
        return float(value)

    def whole_number(self, key: str, bounds: Bounds, default: int | None = None) -> int:
        """A count: an int within `bounds`."""
        value = self.value.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"'{self.path(key)}' must be a whole number, got {value_kind(value)}")
        problem = bounds.problem(value)
        if problem:
            raise self.error(key, f"'{self.path(key)}': {problem}")
        return value


def value_kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
