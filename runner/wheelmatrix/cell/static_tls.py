"""The static-TLS re-run: an import that failed with 'cannot allocate memory in static TLS block'
runs again with a larger reserve (glibc's tunable), to say whether that is the whole story."""

from __future__ import annotations

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.cell.checks.imports import classify
from wheelmatrix.cell.checks.symbols import STATIC_TLS_WORKAROUNDS
from wheelmatrix.cell.install import VENV_PYTHON
from wheelmatrix.model import Status

STATIC_TLS_TRY = 1 << 20  # bytes of reserve to try with: far above any real need


def static_tls_diagnosis(sandbox: Sandbox, check_id: str, code: str, *, timeout_s: float) -> str:
    """'cannot allocate memory in static TLS block': re-run the import with a larger reserve
    (glibc's tunable), and say whether that is the whole story."""
    tunable = f"glibc.rtld.optional_static_tls={STATIC_TLS_TRY}"
    plan = {
        "python": VENV_PYTHON,
        "timeout": timeout_s,
        "checks": [{"id": check_id, "code": code}],
        "env": {"GLIBC_TUNABLES": tunable},
    }
    records = sandbox.probe("run", plan, user=sandbox.check_user, budget=timeout_s + 60)
    rec = next((r["check"] for r in records if "check" in r), None)
    passed = rec is not None and classify(rec, timeout_s)[0] is Status.PASSED
    why = (
        "a library of this set uses initial-exec TLS and was loaded by dlopen after start, when "
        "the static TLS block has only the loader's small reserve left"
    )
    verdict = (
        f"with GLIBC_TUNABLES={tunable} the import passes"
        if passed
        else f"with GLIBC_TUNABLES={tunable} it still fails, so more is wrong"
    )
    return f"{why}; {verdict}; workarounds: {STATIC_TLS_WORKAROUNDS}"
