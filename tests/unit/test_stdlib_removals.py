"""Standard-library removals explained from the shipped table."""

from __future__ import annotations

import pytest

from wheelmatrix.scan.stdlib_removals import explain_missing_module, removed_in


@pytest.mark.parametrize(
    ("module", "version"),
    [("cgi", (3, 13)), ("audioop", (3, 13)), ("distutils", (3, 12)), ("imp", (3, 12)), ("asyncore", (3, 12))],
)
def test_removed_in(module: str, version: tuple[int, int]) -> None:
    assert removed_in(module) == version


def test_explained_only_where_the_cell_python_removed_it() -> None:
    message = "ModuleNotFoundError: No module named 'cgi'"
    text = explain_missing_module(message, (3, 13))
    assert text is not None
    assert text.startswith(
        "cgi was removed from the standard library in Python 3.13 (PEP 594); this cell has 3.13"
    )
    assert "legacy-cgi" in text
    assert explain_missing_module(message, (3, 12)) is None  # still there: some other cause


def test_submodule_and_unknown_names() -> None:
    assert "distutils was removed" in (
        explain_missing_module("No module named 'distutils.util'", (3, 12)) or ""
    )
    assert explain_missing_module("No module named 'numpy'", (3, 13)) is None
    assert explain_missing_module("ImportError: something else", (3, 13)) is None
    assert removed_in("os") is None


def test_a_fallback_import_does_not_hide_the_removed_module() -> None:
    # pydub 0.25.1 on Python 3.13: `import audioop` fails, then its fallback `import pyaudioop`
    tail = (
        "ModuleNotFoundError: No module named 'audioop'\n\n"
        "During handling of the above exception, another exception occurred:\n\n"
        "ModuleNotFoundError: No module named 'pyaudioop'"
    )
    text = explain_missing_module(tail, (3, 13))
    assert text is not None and text.startswith(
        "audioop was removed from the standard library in Python 3.13"
    )
    assert explain_missing_module(tail, (3, 12)) is None
