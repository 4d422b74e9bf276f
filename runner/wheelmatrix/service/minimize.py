"""Shrinking a failing set: delta debugging (Zeller's ddmin) over the distributions of a set,
keeping the given import order, then the order of what is left. Pure logic: the test is a
callback (a real cell in `wheelmatrix minimize`, a fake in unit tests)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Search(Generic[T]):
    """ddmin with memoised tests: `fails(subset)` is asked at most once per subset."""

    test: Callable[[tuple[T, ...]], bool]  # True: the subset fails the same way
    tried: dict[tuple[T, ...], bool] = field(default_factory=dict)

    def fails(self, subset: Sequence[T]) -> bool:
        key = tuple(subset)
        if key not in self.tried:
            self.tried[key] = self.test(key)
        return self.tried[key]

    @property
    def runs(self) -> int:
        return len(self.tried)

    def ddmin(self, items: Sequence[T]) -> list[T]:
        """A 1-minimal failing subsequence of `items` (which must fail): removing any one
        element of the result makes it pass (or fail differently)."""
        current = list(items)
        n = 2
        while len(current) >= 2:
            chunks = _split(current, n)
            found = next((c for c in chunks if self.fails(c)), None)
            if found is not None:
                current, n = found, 2
                continue
            complements = [[x for j, c in enumerate(chunks) if j != i for x in c] for i in range(len(chunks))]
            found = next((c for c in complements if len(chunks) > 2 and self.fails(c)), None)
            if found is not None:
                current, n = found, max(n - 1, 2)
                continue
            if n >= len(current):
                break
            n = min(len(current), 2 * n)
        return current


def _split(items: list[T], n: int) -> list[list[T]]:
    """`items` in n contiguous, nearly equal chunks."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        if end > start:
            out.append(items[start:end])
        start = end
    return out


def parse_requirements_file(text: str, source: str) -> list[str]:
    """The requirement lines of a requirements file or `pip freeze` output: comments, options
    (--hash, -i, ...) and blank lines dropped; editable and URL lines refused with FILE:LINE."""
    from wheelmatrix.errors import InputError

    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-e ", "--editable")) or (
            not line.startswith("-") and (" @ " in line or "://" in line)
        ):
            raise InputError(
                f"{source}:{lineno}: '{line}' is not a released distribution",
                hint="minimize takes name==version lines (as `pip freeze` writes them) or wheel files",
            )
        if line.startswith("-"):
            continue  # an option line (-i URL, --hash ... continuation, -r FILE is not followed)
        out.append(line.split(" --hash", 1)[0].rstrip(" \\"))
    return out
