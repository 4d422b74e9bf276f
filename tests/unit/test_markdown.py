"""The Markdown summary (wheelmatrix/reporters/markdown.py)."""

from __future__ import annotations

from pathlib import Path

from wheelmatrix.model import CheckResult, Status
from wheelmatrix.reporters.base import ReportContext
from wheelmatrix.reporters.markdown import ICON, MARKDOWN, render_markdown
from wheelmatrix.scan.policy import Finding, WheelScan

OVER = Finding(
    kind="over-claimed",
    message="tagged manylinux_2_17_x86_64 but needs GLIBC_2.36 (arc4random in wmnewglibc/_native.abi3.so, "
    "from libc.so.6); manylinux_2_17_x86_64 allows at most GLIBC_2.17",
    file="wmnewglibc/_native.abi3.so",
    symbol="arc4random",
    version="GLIBC_2.36",
    library="libc.so.6",
    tag="manylinux_2_17_x86_64",
)
WHEEL = "wmnewglibc-1.0-cp39-abi3-manylinux_2_17_x86_64.whl"


def res(
    distro: str,
    check: str,
    status: Status,
    detail: str = "",
    diagnosis: str = "",
    scenario: str = "import",
    variant: str = "",
) -> CheckResult:
    python = {"debian-11": "3.9", "debian-12": "3.11"}[distro]
    return CheckResult(
        distro=distro,
        arch="x86_64",
        python=python,
        scenario=scenario,
        check=check,
        status=status,
        detail=detail,
        diagnosis=diagnosis,
        variant=variant,
    )


RESULTS = [
    res(
        "debian-11",
        "import wmnewglibc",
        Status.FAILED,
        "ImportError: version `GLIBC_2.36' not found",
        "predicted and confirmed: needs GLIBC_2.36; debian-11 has GLIBC_2.31",
    ),
    res("debian-12", "import wmnewglibc", Status.PASSED),
    res("debian-12", "symbol collisions", Status.PASSED, scenario="symbols"),
]


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")]


def test_summary_line_counts_statuses() -> None:
    text = render_markdown(RESULTS, {})
    assert text.startswith("## wheelmatrix\n")
    assert "3 checks: 2 passed, 1 failed" in text


def test_table_has_one_row_per_cell_and_one_column_per_check() -> None:
    text = render_markdown(RESULTS, {})
    header, *rows = table_rows(text)
    assert header == "| distro/arch/python | `import wmnewglibc` | `symbols: symbol collisions` |"
    assert "|---|---|---|" in text
    assert rows == [
        f"| debian-11/x86_64/py3.9 | {ICON[Status.FAILED]} |  |",
        f"| debian-12/x86_64/py3.11 | {ICON[Status.PASSED]} | {ICON[Status.PASSED]} |",
    ]


def test_why_section_groups_problems_by_root_cause() -> None:
    text = render_markdown(RESULTS, {})
    why = text.split("### Why (grouped by root cause)\n", 1)[1]
    assert "- **❌ failed** needs GLIBC_2.36: 1 check in 1 cell" in why
    assert (
        "  - e.g. debian-11/x86_64/py3.9 `import wmnewglibc`: ImportError: version `GLIBC_2.36' not found"
        in why
    )
    assert "debian-12" not in why  # passed without a diagnosis: nothing to explain


def test_the_same_cause_in_several_cells_is_one_entry() -> None:
    diag = "predicted and confirmed: needs GLIBC_2.36 (arc4random in x.so); {d} has GLIBC_2.31"
    results = [
        res(d, "import wmnewglibc", Status.FAILED, "ImportError: GLIBC_2.36", diag.format(d=d))
        for d in ("debian-11", "debian-12")
    ]
    text = render_markdown(results, {})
    assert text.count("needs GLIBC_2.36 (arc4random in x.so): 2 checks in 2 cells") == 1
    assert "  - cells: debian-11/x86_64/py3.9, debian-12/x86_64/py3.11" in text


def test_passed_check_with_a_diagnosis_is_explained() -> None:
    note = "2 copies of libstdc++: a.so, b.so"
    results = [res("debian-12", "duplicate runtimes", Status.PASSED, "", note, scenario="symbols")]
    text = render_markdown(results, {})
    assert f"- **{ICON[Status.PASSED]}** {note}: 1 check in 1 cell" in text
    assert "  - e.g. debian-12/x86_64/py3.11 `duplicate runtimes`: ok" in text


def test_variant_rows_are_separate() -> None:
    results = [
        res("debian-12", "import wmpure", Status.PASSED),
        res("debian-12", "import wmpure", Status.FAILED, "ValueError", variant="numpy2-abi-pandas20"),
    ]
    rows = table_rows(render_markdown(results, {}))[1:]
    assert rows == [
        f"| debian-12/x86_64/py3.11 | {ICON[Status.PASSED]} |",
        f"| debian-12/x86_64/py3.11 +numpy2-abi-pandas20 | {ICON[Status.FAILED]} |",
    ]


def test_static_findings_section() -> None:
    scans = {WHEEL: WheelScan(wheel=WHEEL, files=(), findings=(OVER,))}
    text = render_markdown(RESULTS, scans)
    section = text.split("### Static ELF scan\n", 1)[1]
    assert f"- `{WHEEL}` **over-claimed**: {OVER.message}" in section


def test_no_findings_no_static_section_and_no_results_no_table() -> None:
    text = render_markdown([], {WHEEL: WheelScan(wheel=WHEEL, files=())})
    assert "0 checks: none" in text
    assert "### Static ELF scan" not in text
    assert "### Why" not in text
    assert table_rows(text) == []


def test_pipes_and_newlines_are_escaped() -> None:
    detail = "ValueError: a | b\nsecond line"
    finding = Finding(kind="unshipped-library", message="x.so needs lib|odd.so\nreally")
    results = [res("debian-12", "import a|b", Status.CRASHED, detail, "diag | with pipe\nand newline")]
    text = render_markdown(results, {WHEEL: WheelScan(wheel=WHEEL, files=(), findings=(finding,))})

    header = table_rows(text)[0]
    assert header == "| distro/arch/python | `import a\\|b` |"
    assert header.count(" | ") == 1  # the escaped pipe does not open a column
    assert "`import a\\|b`: ValueError: a \\| b second line" in text
    assert "diag \\| with pipe and newline: 1 check in 1 cell" in text
    assert "**unshipped-library**: x.so needs lib\\|odd.so really" in text
    assert "\nsecond line" not in text and "\nand newline" not in text


def test_write_markdown(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    MARKDOWN.write(RESULTS, ReportContext(), out)
    assert out.read_text() == render_markdown(RESULTS, {}) + "\n"
