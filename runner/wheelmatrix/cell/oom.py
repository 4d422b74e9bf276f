"""The OOM probe: was a SIGKILL the kernel's OOM killer (the container's memory limit), not ours?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wheelmatrix.backends.base import Sandbox
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.model import Status


class OomWatch:
    """Reads the container's OOM-kill count after a SIGKILL; each kill is named once."""

    def __init__(self, sandbox: Sandbox, limit: str) -> None:
        self.sandbox = sandbox
        self.limit = limit  # the container's memory limit, as the user gave it
        self.seen = 0  # OOM kills in the container already attributed to a check

    def explain(self, status: Status, rec: Mapping[str, Any], detail: str) -> tuple[str, str]:
        """(detail, diagnosis) for a SIGKILL by the kernel's OOM killer (not our timeout);
        (detail, "") unchanged otherwise."""
        if status is not Status.CRASHED or rec.get("signal") != "SIGKILL" or rec.get("timed_out"):
            return detail, ""
        try:
            records = self.sandbox.probe("memory", {}, user=self.sandbox.check_user, budget=60)
        except InfrastructureError:
            return detail, ""
        memory: dict[str, Any] = next((r["memory"] for r in records if "memory" in r), {})
        kills = memory.get("oom_kills")
        if not isinstance(kills, int) or kills <= self.seen:
            return detail, ""
        self.seen = kills
        limit = self.limit
        return f"SIGKILL: out of memory (limit {limit})", (
            f"killed by the kernel's OOM killer: the container's memory limit ({limit}) was reached; "
            "raise it with --memory (or `memory:` in the config file) if the package needs more"
        )
