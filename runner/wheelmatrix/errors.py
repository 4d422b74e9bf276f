"""Fatal errors. Each class carries its exit code; the CLI catches them once.

Exit codes: 0 all checks passed (or were not installable), 1 a check failed, crashed or
timed out, 2 bad input (nothing was started), 3 the infrastructure failed.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INFRASTRUCTURE = 3


class WheelmatrixError(Exception):
    """Base class: a message for the user and an exit code."""

    exit_code = EXIT_INFRASTRUCTURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class InputError(WheelmatrixError):
    """The user gave something unusable: a corrupt wheel, an unknown distro, bad YAML."""

    exit_code = EXIT_BAD_INPUT


class InfrastructureError(WheelmatrixError):
    """The engine, an image, the installer download or the host is broken."""

    exit_code = EXIT_INFRASTRUCTURE


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    import difflib  # only when there is something to suggest

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
