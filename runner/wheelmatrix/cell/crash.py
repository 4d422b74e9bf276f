"""Crash symbolisation: re-run a crashed check for native evidence (fault address, gdb, linker
bindings) and name a wheel's unexported function at the fault from its own symbol table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.checks.cellfiles import PROBE, TooMuchToRead, observe_only, probe_reading
from wheelmatrix.cell.install import SYMBOLS_PROBE, VENV_PYTHON
from wheelmatrix.matrix.cells import Cell


def crash_evidence(
    sandbox: Sandbox, cell: Cell, code: str, *, timeout_s: float, site_dirs: Sequence[str]
) -> dict[str, Any]:
    """Re-run a crashed check for native evidence: fault address, gdb, linker bindings."""
    plan = {
        "python": VENV_PYTHON,
        "code": code,
        "timeout": timeout_s,
        "site_dirs": list(site_dirs),
        # an emulated cell leaves the dynamic linker's log to be read on this side
        "observe_only": observe_only(cell.emulated, sandbox),
    }
    budget = timeout_s * 4 + 60
    records = sandbox.probe("crash", plan, user=sandbox.check_user, budget=budget, script=SYMBOLS_PROBE)
    native: dict[str, Any] = next((r["crash"] for r in records if "crash" in r), {})
    log = native.pop("bindings_log", None) if isinstance(native, dict) else None
    if log is not None:
        native["bindings"] = bindings_outside(sandbox, log, site_dirs)
    if native:
        native.update(arch=cell.arch, cpu=cell.cpu)
        name_local_function(sandbox, native, site_dirs)
    return native


def bindings_outside(sandbox: Sandbox, log: Any, site_dirs: Sequence[str]) -> list[dict[str, Any]]:
    """The crash probe's reading of its LD_DEBUG log (bindings where a wheel's object got
    another object's definition of a symbol it defines itself), run natively over the log and
    the objects read out of the cell (cell/checks/cellfiles.py): under emulation, reading the
    millions of lines of a large stack's log took minutes."""
    if not (isinstance(log, str) and log == PROBE.CRASH_LOG):
        return []  # not where the probe writes it: not read
    try:
        with probe_reading(sandbox):
            found: list[dict[str, Any]] = PROBE._interposed(log, list(site_dirs), [])
            return found
    except TooMuchToRead:
        return []  # evidence is best effort: the crash itself is recorded


def name_local_function(sandbox: Sandbox, native: dict[str, Any], site_dirs: Sequence[str]) -> None:
    """The dynamic linker names only exported functions: for a fault in a wheel's object
    at an unnamed address, look the offset up in the object's own symbol table."""
    pc = (native.get("fault") or {}).get("pc") or {}
    dso, offset = pc.get("dso"), pc.get("offset")
    if not dso or pc.get("symbol") or not offset or not any(dso.startswith(d) for d in site_dirs):
        return
    try:
        from wheelmatrix.scan.elf import function_at

        found = function_at(sandbox.read_file(pc.get("real") or dso), int(offset, 16))
    except Exception:  # evidence is best effort: the fault itself is already recorded
        return
    if found is not None:
        pc["symbol"], pc["symbol_offset"] = found[0], hex(found[1])
