"""CPU levels (`--cpu`): which QEMU CPU model stands for a level, and which level an
instruction needs (decoded with capstone from the bytes a SIGILL stopped at)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from wheelmatrix.errors import InputError, did_you_mean
from wheelmatrix.resources import data_path

QEMU_STATIC = {"x86_64": "/usr/bin/qemu-x86_64-static", "aarch64": "/usr/bin/qemu-aarch64-static"}


@dataclass(frozen=True, kw_only=True)
class Level:
    arch: str
    name: str
    qemu: str | None  # the CPU model; None where QEMU cannot emulate the level
    adds: str
    why: str = ""


@dataclass(frozen=True, kw_only=True)
class Instruction:
    text: str  # "vpaddd ymm0, ymm1, ymm2"
    needs: str | None  # the level it needs ("x86-64-v3"), None if not known to need more than v1
    what: str  # "AVX2" / "an ARMv8.1 LSE atomic"


@functools.cache
def _data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(data_path("cpu-levels.json").read_text())
    return data


def qemu_static(arch: str) -> str:
    """The host's static QEMU user emulator for ARCH (mounted into CPU cells)."""
    import os

    path = QEMU_STATIC[arch]
    if not os.access(path, os.X_OK):
        from wheelmatrix.errors import InfrastructureError

        raise InfrastructureError(
            f"CPU cells need the static QEMU user emulator {path}, which this host does not have",
            hint="install qemu-user-static (Debian), or run without --cpu",
        )
    return path


def levels(arch: str) -> list[Level]:
    return [
        Level(arch=arch, name=e["name"], qemu=e["qemu"], adds=e["adds"], why=e.get("why", ""))
        for e in _data()[arch]["levels"]
    ]


def all_level_names() -> list[str]:
    return [lv.name for arch in ("x86_64", "aarch64") for lv in levels(arch)]


def level(arch: str, name: str) -> Level:
    """The level NAME on ARCH; InputError naming the choices if it is unknown or not runnable."""
    known = {lv.name: lv for lv in levels(arch)}
    if name not in known:
        other = "aarch64" if arch == "x86_64" else "x86_64"
        if name in {lv.name for lv in levels(other)}:
            raise InputError(f"--cpu {name} is an {other} level, and this cell is {arch}")
        raise InputError(
            f"unknown CPU level '{name}'{did_you_mean(name, list(known))}",
            hint=f"{arch} levels: {', '.join(known)}",
        )
    found = known[name]
    if found.qemu is None:
        raise InputError(
            f"--cpu {name} cannot run here: {found.why}", hint=f"{arch} levels: {', '.join(known)}"
        )
    return found


def arch_of(name: str) -> str:
    for arch in ("x86_64", "aarch64"):
        if name in {lv.name for lv in levels(arch)}:
            return arch
    raise InputError(
        f"unknown CPU level '{name}'{did_you_mean(name, all_level_names())}",
        hint="levels: " + ", ".join(all_level_names()),
    )


def rank(arch: str, name: str) -> int:
    return list(_data()[arch]["order"]).index(name)


def below(arch: str, needs: str, have: str) -> bool:
    """Whether an instruction needing level NEEDS faults at level HAVE."""
    return rank(arch, needs) > rank(arch, have)


def decode(arch: str, code_hex: str) -> Instruction | None:
    """The first instruction in CODE_HEX (the bytes at the faulting pc) and the level it needs."""
    try:
        import capstone
    except ImportError:  # an optional nicety: the level is still known from the scan
        return None
    try:
        raw = bytes.fromhex(code_hex)
    except ValueError:
        return None
    if arch == "x86_64":
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    else:
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.detail = True
    insn = next(iter(md.disasm(raw, 0)), None)
    if insn is None:
        return None
    text = f"{insn.mnemonic} {insn.op_str}".strip()
    table = _data()[arch]
    notes: dict[str, str] = table.get("notes", {})
    needs: str | None = None
    for prefix, lv in table.get("mnemonics", {}).items():
        if insn.mnemonic == prefix or insn.mnemonic.startswith(prefix):
            needs = _newer(arch, needs, lv)
    for group in insn.groups:
        lv = table.get("groups", {}).get(insn.group_name(group) or "")
        if lv:
            needs = _newer(arch, needs, lv)
    what = notes.get(needs, "") if needs else ""
    return Instruction(text=text, needs=needs, what=what)


def _newer(arch: str, a: str | None, b: str) -> str:
    return b if a is None or rank(arch, b) > rank(arch, a) else a
