"""Shards and merge in real containers: shards 1..N of a matrix cover every cell exactly once,
and merged they give the same verdicts as one unsharded run; the merged HTML report opened in
headless Chromium, a failing cell clicked, its detail read (a screenshot is kept)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli, paths
from tests.fixtures.browser import Browser, chromium
from tests.fixtures.wheels import Fixture

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("debian_images")]
ARTIFACTS = Path(
    os.environ.get("WHEELMATRIX_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


def verdicts(report: Path) -> dict[str, str]:
    doc = json.loads(report.read_text())
    return {r["check_id"]: r["status"] for r in doc["results"]}


@pytest.mark.xdist_group("shards")
def test_shards_cover_the_matrix_once_merge_to_the_same_verdicts_and_render_html(
    wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    inputs = [str(w) for w in paths(wheels["newglibc"], wheels["pure"])]
    matrix = [*inputs, "--distro", "debian-11", "--distro", "debian-12", "--scenario", "import",
              "--scenario", "symbols", "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    whole = cli("run", *matrix, "--json", tmp_path / "whole.json", cwd=tmp_path)
    assert whole.rc == 1, whole.explain()  # wmnewglibc needs GLIBC_2.36: fails on debian-11

    planned = cli("plan", *matrix, "--shards", "3", "--format", "json", cwd=tmp_path)
    assert planned.rc == 0, planned.explain()
    shards = json.loads(planned.stdout)["shards"]
    ids = [c for s in shards for c in s["cell_ids"]]
    assert len(ids) == len(set(ids)) == 8  # 2 distros x 2 archs x 2 scenarios, each once
    github = cli("plan", *matrix, "--shards", "3", "--format", "github", cwd=tmp_path)
    include = json.loads(github.stdout)["include"]
    assert [i["shard"] for i in include] == ["1/3", "2/3", "3/3"]

    parts = []
    for entry in include:
        out = tmp_path / f"shard-{entry['index']}.json"
        run = cli("run", *matrix, "--shard", entry["shard"], "--json", out, cwd=tmp_path)
        assert run.rc in (0, 1), run.explain()
        cells = {r["cell_id"] for r in json.loads(out.read_text())["results"]}
        planned_cells = next(set(s["cell_ids"]) for s in shards if s["shard"] == entry["shard"])
        assert cells == planned_cells, (entry, cells)
        parts.append(out)

    html = tmp_path / "merged.html"
    merged = cli(
        "report", "merge", *parts, "--json", tmp_path / "merged.json", "--html", html,
        "--markdown", tmp_path / "merged.md", cwd=tmp_path,
    )  # fmt: skip
    assert merged.rc == 1, merged.explain()
    assert verdicts(tmp_path / "merged.json") == verdicts(tmp_path / "whole.json")
    assert "needs GLIBC_2.36" in merged.stdout and "checks in 2 cells" in merged.stdout, merged.explain()
    # a shard given twice is refused, naming the cell and both files
    twice = cli("report", "merge", parts[0], parts[0], cwd=tmp_path)
    if json.loads(parts[0].read_text())["results"]:
        assert twice.rc == 2 and "is in both" in twice.stderr, twice.explain()

    exe = chromium()
    assert exe is not None, "headless Chromium is part of the test set-up (scripts/setup-host.sh)"
    browser = Browser(exe)
    try:
        browser.open(html.as_uri())
        assert browser.js("document.querySelectorAll('td.cell').length") == len(
            verdicts(tmp_path / "merged.json")
        )
        assert browser.js("getComputedStyle(document.getElementById('detail')).display") == "none"
        # a real click on a failing cell (debian-11 import of wmnewglibc)
        clicked = browser.js(
            "(() => { const c = [...document.querySelectorAll('td.s-failed')].find(td =>"
            " td.closest('tr').dataset.distro === 'debian-11' && td.title.startsWith('import wmnewglibc'));"
            " c.dispatchEvent(new MouseEvent('click', {bubbles: true})); return c.title; })()"
        )
        assert clicked.startswith("import wmnewglibc"), clicked
        text = browser.js("document.getElementById('detail').innerText")
        assert "debian-11" in text and "GLIBC_2.36" in text and "Diagnosis" in text, text
        assert "wheelmatrix repro --from REPORT.json --check 'debian-11/" in text, text
        assert "wmnewglibc==1.0" in text, text  # installed versions
        # filters: only debian-12 rows
        browser.js("const s = document.getElementById('f-distro'); s.value = 'debian-12';"
                   " s.dispatchEvent(new Event('change'));")  # fmt: skip
        visible = browser.js(
            "[...document.querySelectorAll('#map tbody tr')]"
            ".filter(tr => !tr.classList.contains('hidden')).map(tr => tr.dataset.distro)"
        )
        assert set(visible) == {"debian-12"}, visible
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(ARTIFACTS / "html-report-detail.png")
        assert (ARTIFACTS / "html-report-detail.png").stat().st_size > 10_000
        shutil.copy(html, ARTIFACTS / "html-report.html")
    finally:
        browser.close()
    # self-contained: nothing fetched from elsewhere
    page = html.read_text()
    assert "http://" not in page and "https://" not in page and "<link" not in page
