"""The package's rooms and their order: a lower layer never imports a higher one.

Read from the source with `ast` (every `import`, including the ones inside functions), so a
lazy import cannot hide an upward dependency. The order is the one DESIGN.md's flow gives:
config -> matrix -> backends -> cell -> findings -> run -> reporters -> service -> cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "runner" / "wheelmatrix"

# Low to high. A module may import its own room and any room listed before it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("probe",),  # stdlib only: it runs inside cells on Python 3.6+
    ("errors", "resources", "fsutil"),
    ("model", "host"),
    ("inputs",),
    ("scan",),
    ("config",),
    ("options",),
    ("matrix",),
    ("backends",),
    ("findings",),
    ("cell",),
    ("run",),
    ("reporters",),
    ("service",),
    ("cli", "__main__"),
)
RANK = {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def _room(module: str) -> str:
    """`wheelmatrix.cell.flow` -> `cell`; `wheelmatrix` (the version) -> `errors`' layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "errors"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "wheelmatrix":
                found += [
                    (node.lineno, f"wheelmatrix.{a.name}") for a in node.names if a.name != "__version__"
                ]
                if any(a.name == "__version__" for a in node.names):
                    found.append((node.lineno, "wheelmatrix"))
            else:
                found.append((node.lineno, node.module))
    return found


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _own_room(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0] if rel.parts[0] != "__init__" else "errors"


def test_every_room_has_a_place_in_the_order() -> None:
    rooms = {_own_room(p) for p in _modules()}
    assert rooms <= set(RANK), f"rooms missing from LAYERS: {sorted(rooms - set(RANK))}"


def test_no_lower_layer_imports_a_higher_one() -> None:
    bad = []
    for path in _modules():
        room = _own_room(path)
        for line, module in _imports(path):
            if module != "wheelmatrix" and not module.startswith("wheelmatrix."):
                continue
            target = _room(module)
            if RANK.get(target, -1) > RANK[room]:
                bad.append(f"{path.relative_to(PACKAGE)}:{line} ({room}) imports {module} ({target})")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_probe_is_standard_library_only() -> None:
    for path in (PACKAGE / "probe").glob("*.py"):
        for line, module in _imports(path):
            assert not module.startswith("wheelmatrix"), f"{path.name}:{line} imports {module}"


def test_only_the_docker_backend_imports_the_docker_sdk() -> None:
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in _modules()
        if any(m == "docker" or m.startswith("docker.") for _, m in _imports(p))
    )
    assert all(u.startswith("backends/docker/") for u in users), users


def test_no_command_module_imports_another() -> None:
    cli = PACKAGE / "cli"
    commands = {p.stem for p in cli.glob("*.py")} - {"__init__", "options", "common"}
    bad = [
        f"cli/{p.name}:{line} imports {m}"
        for p in cli.glob("*.py")
        if p.stem != "__init__"
        for line, m in _imports(p)
        if m.startswith("wheelmatrix.cli.") and m.split(".")[2] in commands
    ]
    assert not bad, bad


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.parent.name))
def test_every_room_says_what_it_is_for_and_what_it_may_import(init: Path) -> None:
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc and "may import" in doc.lower(), f"{init.relative_to(PACKAGE)} needs a two-line room docstring"
