"""musl cells: a symbol musl's loader cannot resolve, named with why and what to do."""

from __future__ import annotations

import re

_MUSL_RELOC = re.compile(r"Error relocating [^:]+: ([^\s:]+): symbol not found")
_WANTS = re.compile(r"undefined symbol:? (\S+) \(wants \S+@(GLIBC_[\d.]+)\)")


def explain_glibc_on_musl(detail: str) -> str:
    """A musl cell that cannot resolve a symbol: name it, and say why when the wheel asked for
    a glibc version of it (a musllinux wheel linked against glibc: the regopy case)."""
    m = _WANTS.search(detail)
    if m:
        return (
            f"`{m.group(1)}` is asked for as {m.group(1)}@{m.group(2)}: this file was linked against "
            "glibc, and musl does not provide that symbol; a musllinux wheel must be built in a "
            "musllinux image (cibuildwheel, or auditwheel repair on a musl host) and must not call "
            "glibc-only functions (as regopy's musllinux wheel did: microsoft/rego-cpp#226)"
        )
    m = _MUSL_RELOC.search(detail) or re.search(r"undefined symbol:? (\S+)", detail)
    if m:
        return (
            f"musl's loader cannot resolve `{m.group(1)}`: musl's libc does not define it (a glibc-only "
            "or newer function), and no library the file needs does; build the wheel in a musllinux "
            "image against musl, or guard the call (microsoft/rego-cpp#226 is one such case)"
        )
    return ""
