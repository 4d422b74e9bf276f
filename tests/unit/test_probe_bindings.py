"""The symbol probe's reading of an LD_DEBUG=bindings log (probe/wm_symbols.py): only bindings
from one wheel's object to another wheel's definition count, whatever the log's size."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from wheelmatrix.probe import wm_symbols

SITE = "/tmp/wm-venv/lib/python3.11/site-packages"
UV = "/opt/wheelmatrix/cache/uv/archive-v0"


def line(wanter: str, target: str, symbol: str, kind: str = "normal") -> str:
    return f"     12345:\tbinding file {wanter} [0] to {target} [0]: {kind} symbol `{symbol}' [GLIBC_2.17]\n"


def reference(text: str, wanted: set[str]) -> dict[str, list[dict[str, str]]]:
    """The same rule, line by line, as the probe read logs before."""
    out: dict[str, list[dict[str, str]]] = {}
    for ln in text.splitlines():
        m = wm_symbols.BINDING.search(ln)
        if not m or m.group(3) not in wanted:
            continue
        wanter, target, symbol = m.groups()
        if not (wm_symbols.wheel_relative(wanter, [SITE]) and wm_symbols.wheel_relative(target, [SITE])):
            continue
        if wm_symbols._project(wanter, [SITE]) == wm_symbols._project(target, [SITE]):
            continue
        pair = {"wanted_by": wanter, "bound_to": target}
        if pair not in out.setdefault(symbol, []):
            out[symbol].append(pair)
    return out


def test_bindings_between_wheels_are_read_and_the_rest_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [
        f"{SITE}/a/_a.so",
        f"{SITE}/a.libs/libx.so",
        f"{SITE}/b/_b.so",
        f"{UV}/Xyz/c/_c.so",
        "/usr/lib/aarch64-linux-gnu/libc.so.6",
        "/usr/bin/python3.11",
    ]
    symbols = ["shared", "other", "malloc", "_ZTIi"]
    rng = random.Random(7)
    text = "".join(
        line(rng.choice(files), rng.choice(files), rng.choice(symbols), rng.choice(["normal", "protected"]))
        if rng.random() < 0.9
        else f"     12345:\tsymbol={rng.choice(symbols)};  lookup in file={rng.choice(files)} [0]\n"
        for _ in range(5000)
    )
    wanted = {"shared", "_ZTIi"}
    expected = reference(text, wanted)
    assert expected  # the sample has crossings
    original = wm_symbols._matches
    for block in (64, 1000, 1 << 22):  # lines cut at block ends are read whole
        log = tmp_path / f"log-{block}"
        (tmp_path / f"log-{block}.101").write_text(text)
        monkeypatch.setattr(
            wm_symbols, "_matches", lambda path, pattern, size=block: original(path, pattern, size)
        )
        got = wm_symbols.crossed_bindings(str(log), [SITE], [{"symbol": s} for s in wanted])
        assert got == expected, block
        assert not (tmp_path / f"log-{block}.101").exists()  # the log is removed once read
