"""wheelmatrix/reach.py and scripts/aggregate_reach.py: the shipped download-share data, aggregated."""

from __future__ import annotations

import importlib.util
import json
import lzma
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from wheelmatrix.resources import data_path
from wheelmatrix.scan import reach

ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aggregate_reach", ROOT / "scripts" / "aggregate_reach.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


agg = _load_script()


# ---------------------------------------------------------------- the shipped data file


@pytest.fixture(scope="module")
def doc() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(data_path("reach.json").read_text())
    return loaded


def test_shipped_file_is_small_and_names_its_source(doc: dict[str, object]) -> None:
    path = data_path("reach.json")
    assert path.stat().st_size < 50_000
    assert "pypi.org" not in path.read_text()
    source = doc["source"]
    assert isinstance(source, dict)
    assert source["repository"] == "mayeut/manylinux-timeline"
    assert source["path"].startswith("consumer_data/")
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    window = doc["window"]
    assert isinstance(window, dict)
    first, last = date.fromisoformat(window["first"]), date.fromisoformat(window["last"])
    assert (last - first).days + 1 == window["days"] >= 28
    assert window["days_missing"] == []


def test_shipped_file_records_what_is_absent(doc: dict[str, object]) -> None:
    scope = doc["scope"]
    assert isinstance(scope, dict)
    assert scope["musl"] is None and "musl" in scope["musl_note"]
    assert scope["cpu_level"] is None and "x86-64-v" in scope["cpu_level_note"]


def test_shipped_cells_are_complete_share_tables(doc: dict[str, object]) -> None:
    arches = doc["arches"]
    assert isinstance(arches, dict)
    for arch in ("x86_64", "aarch64"):
        assert {"all", *(f"3.{minor}" for minor in range(8, 15))} <= set(arches[arch])
    for arch, by_python in arches.items():
        for python, cell in by_python.items():
            glibc = cell["glibc"]
            assert cell["downloads"] >= doc["scope"]["min_downloads"], (arch, python)  # type: ignore[index]
            assert abs(sum(glibc.values()) - 1.0) < 1e-4, (arch, python)
            assert all(0.0 < share <= 1.0 for share in glibc.values())
            keys = [tuple(int(x) for x in k.split(".")) for k in glibc if k != "unknown"]
            assert keys == sorted(keys), (arch, python)
        # "all" counts every Python, so it is at least as big as any one version
        assert all(by_python["all"]["downloads"] >= cell["downloads"] for cell in by_python.values())
    # x86_64 dominates the downloads, as it does in every public report
    assert arches["x86_64"]["all"]["downloads"] > arches["aarch64"]["all"]["downloads"]


def test_load_is_cached_and_matches_the_file(doc: dict[str, object]) -> None:
    data = reach.load()
    assert reach.load() is data
    assert data.commit == doc["source"]["commit"]  # type: ignore[index]
    assert data.cells[("x86_64", "all")].downloads == doc["arches"]["x86_64"]["all"]["downloads"]  # type: ignore[index]
    assert not data.has_musl and not data.has_cpu_level


def test_share_at_least_on_shipped_data() -> None:
    # every glibc client that downloads manylinux wheels has glibc >= 2.5 (well, nearly)
    assert reach.share_at_least((2, 5), "3.12", "x86_64") == pytest.approx(1.0, abs=1e-3)
    assert reach.share_at_least((99, 0), "3.12", "x86_64") == 0.0
    series = [reach.share_at_least((2, minor), "3.11", "x86_64") for minor in range(5, 45)]
    assert all(s is not None for s in series)
    assert series == sorted(series, reverse=True)  # type: ignore[type-var]
    assert reach.share_at_least((2, 17), None, "aarch64") == reach.share_at_least((2, 17), "all", "aarch64")
    assert reach.share_at_least((2, 17), "cp311", "amd64") == reach.share_at_least((2, 17), "3.11", "x86_64")
    assert reach.share_at_least((2, 17), "2.5", "x86_64") is None
    assert reach.share_at_least((2, 17), "3.12", "sparc64") is None


def test_describe_on_shipped_data_quotes_the_window() -> None:
    data = reach.load()
    line = reach.describe((2, 17), (2, 34), "3.11", "x86_64")
    share = reach.share_at_least((2, 34), "3.11", "x86_64")
    assert share is not None
    assert line.startswith("tagged manylinux_2_17, admits ")
    assert f"needs glibc 2.34, which {reach.percent(share)} have" in line
    assert line.endswith(f"(source: manylinux-timeline, {data.first}..{data.last})")
    assert data.commit is not None and data.commit[:7] in reach.source_line()


# ---------------------------------------------------------------- the aggregation script


NEW_HEADER = "cpu,num_downloads,python_version,glibc_version,project\n"
OLD_HEADER = "cpu,num_downloads,python_version,pip_version,glibc_version\n"


def _write(root: Path, day: str, text: str, *, xz: bool) -> Path:
    path = root / "consumer_data" / (day.replace("-", "/") + (".csv.xz" if xz else ".csv"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lzma.compress(text.encode()) if xz else text.encode())
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    # day 1 (new layout, compressed)
    _write(
        tmp_path,
        "2026-01-01",
        NEW_HEADER
        + "x86_64,100,3.11,2.17,numpy\n"
        + "x86_64,200,3.11,2.28,numpy\n"
        + "x86_64,500,3.12,2.35,cffi\n"
        + "aarch64,40,3.11,2.20-2014,numpy\n",
        xz=True,
    )
    # day 2 (old layout with pip_version, plain)
    _write(
        tmp_path,
        "2026-01-02",
        OLD_HEADER
        + "x86_64,100,3.11,24.0,2.28\n"
        + "x86_64,100,3.12,24.0,\n"
        + "aarch64,60,3.11,24.0,2.39\n"
        + "ppc64le,3,3.11,24.0,2.34\n",
        xz=False,
    )
    # outside a 2-day window
    _write(tmp_path, "2025-12-31", NEW_HEADER + "x86_64,999999,3.11,2.5,numpy\n", xz=True)
    return tmp_path / "consumer_data"


def test_major_minor() -> None:
    assert agg.major_minor("2.17") == "2.17"
    assert agg.major_minor("2.20-2014") == "2.20"
    assert agg.major_minor("3.11.4") == "3.11"
    assert agg.major_minor("") == "unknown"
    assert agg.major_minor("glibc") == "unknown"
    assert agg.major_minor("2024.1") == "unknown"


def test_discover_and_window(source: Path, tmp_path: Path) -> None:
    found = agg.discover([source])
    assert sorted(found) == [date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2)]
    assert agg.select_window(found, 2) == (date(2026, 1, 1), date(2026, 1, 2), [])
    first, last, missing = agg.select_window(found, 5, date(2026, 1, 3))
    assert (first, last) == (date(2025, 12, 30), date(2026, 1, 3))
    assert missing == [date(2025, 12, 30), date(2026, 1, 3)]
    stray = tmp_path / "notes.csv"
    stray.write_text("x")
    with pytest.raises(ValueError, match="not a consumer_data"):
        agg.discover([stray])


def test_aggregation_computes_shares(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "reach.json"
    rc = agg.main([str(source), "--days", "2", "--min-downloads", "10", "--commit", "c" * 40, "-o", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["window"] == {"first": "2026-01-01", "last": "2026-01-02", "days": 2, "days_missing": []}
    assert doc["source"]["commit"] == "c" * 40
    x86 = doc["arches"]["x86_64"]
    # 3.11: 100 at 2.17, 300 at 2.28 (both days summed); the 2025-12-31 row is outside the window
    assert x86["3.11"] == {"downloads": 400, "glibc": {"2.17": 0.25, "2.28": 0.75}}
    # 3.12: an empty glibc version is kept, as "unknown", sorted first
    assert x86["3.12"] == {
        "downloads": 600,
        "glibc": {"unknown": pytest.approx(1 / 6, abs=1e-6), "2.35": 0.833333},
    }
    assert list(x86["3.12"]["glibc"]) == ["unknown", "2.35"]
    assert x86["all"]["downloads"] == 1000
    assert x86["all"]["glibc"] == {"unknown": 0.1, "2.17": 0.1, "2.28": 0.3, "2.35": 0.5}
    assert doc["arches"]["aarch64"]["3.11"]["glibc"] == {"2.20": 0.4, "2.39": 0.6}
    # ppc64le has 3 downloads < --min-downloads: no cell, but it still counts in downloads_by_arch
    assert "ppc64le" not in doc["arches"]
    assert doc["downloads_by_arch"]["ppc64le"] == 3
    for by_python in doc["arches"].values():
        for cell in by_python.values():
            assert sum(cell["glibc"].values()) == pytest.approx(1.0, abs=1e-5)

    data = reach.parse(doc)
    assert reach.share_at_least((2, 28), "3.11", "x86_64", data=data) == pytest.approx(0.75)
    assert reach.share_at_least((2, 17), None, "x86_64", data=data) == pytest.approx(
        0.9
    )  # unknown not counted
    assert reach.share_at_least((2, 36), "3.12", "x86_64", data=data) == 0.0
    assert reach.share_at_least((2, 17), "3.7", "x86_64", data=data) is None


def test_describe_wording(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "reach.json"
    agg.main([str(source), "--days", "2", "--min-downloads", "10", "-o", str(out)])
    data = reach.read(out)
    tail = "(source: manylinux-timeline, 2026-01-01..2026-01-02)"
    assert reach.describe((2, 17), (2, 28), "3.11", "x86_64", data=data) == (
        "tagged manylinux_2_17, admits 100.0 % of Python 3.11 x86_64 downloads; "
        f"needs glibc 2.28, which 75.0 % have {tail}"
    )
    assert reach.describe((2, 28), None, None, "aarch64", data=data) == (
        f"tagged manylinux_2_28, admits 60.0 % of all Python aarch64 downloads {tail}"
    )
    assert reach.describe((2, 17), (2, 34), "3.7", "aarch64", data=data) == (
        f"tagged manylinux_2_17, needs glibc 2.34, no download data for Python 3.7 aarch64 {tail}"
    )
    musl = reach.describe(None, None, "3.11", "x86_64", musl=True, data=data)
    assert "no musl breakdown" in musl and "admits" not in musl
    cpu = reach.describe((2, 17), None, "3.11", "x86_64", cpu_level="x86-64-v3", data=data)
    assert "needs CPU x86-64-v3: no CPU-level breakdown in the data" in cpu
    assert reach.source_line(data).startswith("manylinux-timeline (mayeut/manylinux-timeline, consumer_data/")
    assert "no musl breakdown" in reach.source_line(data)


def test_percent_never_rounds_to_the_extremes() -> None:
    assert reach.percent(0.996) == "99.6 %"
    assert reach.percent(0.99996) == ">99.9 %"
    assert reach.percent(1.0) == "100.0 %"
    assert reach.percent(0.0001) == "<0.1 %"
    assert reach.percent(0.0) == "0.0 %"


def test_parse_rejects_other_schemas() -> None:
    with pytest.raises(ValueError, match="schema"):
        reach.parse({"schema": 2})
