"""A slice of the population run (bench/population.py): real wheels of popular projects, chosen
for layout variety, fetched at test time by name and sha256. `wheelmatrix scan` must read each
and give the answers checked against `auditwheel show` 6.8.2 on 2026-12-02: the minimum glibc
(or musl) version, the libraries outside the policy and the lowest tag the wheel satisfies.

Where the two differ, the expected value is wheelmatrix's and the reason is named: auditwheel
cannot read musl's version on a glibc host (it assumes musllinux_1_2), and it crashes on the
Rust-built musllinux wheels that need `libc.so` (it opens the host's linker script).
Needs the package index (skipped when it cannot be reached); no engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.population import Wheel, fetch_wheel, wheelmatrix_answers

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Case:
    name: str
    version: str
    filename: str
    sha256: str
    size: int
    floor: str | None  # "glibc 2.17" / "musl 1.1" / None
    lowest_tag: str | None
    outside: tuple[str, ...] = ()
    why: str = ""  # what the case stands for in the slice


CASES = [
    Case(
        "uv",
        "0.13.9",
        "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19",
        17606939,
        "glibc 2.17",
        "manylinux_2_17_x86_64",
        outside=(),
        why="static executable in .data/scripts",
    ),
    Case(
        "uv",
        "0.13.9",
        "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
        "2c45530751517d6c3bbc69a19473f6effe47cce047bede01ffd8af7ea7b36b25",
        19295638,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel assumes musllinux_1_2 (see the module doc)
        outside=(),
        why="static executable, musllinux",
    ),
    Case(
        "uv",
        "0.13.9",
        "uv-0.13.9-py3-none-manylinux_2_28_aarch64.whl",
        "ecb6028d79dc96fbeafffe5c8af62a7099487ebc05a701e76714eebcffd06375",
        16864124,
        "glibc 2.28",
        "manylinux_2_28_aarch64",
        outside=(),
        why="static executable, aarch64",
    ),
    Case(
        "ruff",
        "0.17.6",
        "ruff-0.17.6-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "435241c61af5909a022f76219d3d1bf24730dc1bf0acabb5ddf4b569ab3cbb30",
        10271368,
        "glibc 2.17",
        "manylinux_2_17_aarch64",
        outside=(),
        why="executable in .data/scripts, aarch64",
    ),
    Case(
        "ninja",
        "1.13.2",
        "ninja-1.13.2-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "65a24341b5ac09fcadcc37082660be40a94174e51a937fabf6e2cae26225fa2c",
        183365,
        "glibc 2.15",
        "manylinux_2_17_x86_64",
        outside=(),
        why="dynamic executable in .data/scripts",
    ),
    Case(
        "cmake",
        "4.4.5",
        "cmake-4.4.5-py3-none-musllinux_1_2_x86_64.whl",
        "56851f57f3017d81187793fa61f269d583c500c2904aff99cf5208cd341dec79",
        39469945,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel assumes musllinux_1_2 (see the module doc)
        outside=(),
        why="executables in the package, musllinux",
    ),
    Case(
        "cryptography",
        "50.0.2",
        "cryptography-50.0.2-cp311-abi3-manylinux_2_34_x86_64.whl",
        "9dab55f57c74c3cad24c323bacbbd04be4705ba6eb0d92e920b1fc4837ed5079",
        4752576,
        "glibc 2.34",
        "manylinux_2_34_x86_64",
        outside=(),
        why="abi3",
    ),
    Case(
        "cryptography",
        "50.0.2",
        "cryptography-50.0.2-cp39-abi3-manylinux_2_34_aarch64.whl",
        "0ddc924c04591c2811ca024d62ecad4f7f6f08af8939c211438f48a16bd23602",
        4764319,
        "glibc 2.34",
        "manylinux_2_34_aarch64",
        outside=(),
        why="abi3, aarch64",
    ),
    Case(
        "protobuf",
        "7.36.2",
        "protobuf-7.36.2-cp310-abi3-manylinux2014_x86_64.whl",
        "89f23aa53c24553a2416fd4fd1ec06f74fa42b14b546d8883128813f775bbfd2",
        343223,
        "glibc 2.14",
        "manylinux_2_17_x86_64",
        outside=(),
        why="abi3, manylinux2014",
    ),
    Case(
        "numpy",
        "2.5.5",
        "numpy-2.5.5-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "704d819265e5d1064d932968e9ee85fff2103ccc78c05b878c06943ba27b8507",
        15720599,
        "glibc 2.27",
        "manylinux_2_27_x86_64",
        outside=(),
        why="vendored OpenBLAS and gfortran",
    ),
    Case(
        "numpy",
        "2.5.5",
        "numpy-2.5.5-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        "a0750f2156d53446caca85663d0b65d67214e1664b9050454a731ea1418d176a",
        15284117,
        "glibc 2.27",
        "manylinux_2_27_aarch64",
        outside=(),
        why="vendored OpenBLAS, aarch64",
    ),
    Case(
        "scipy",
        "1.18.1",
        "scipy-1.18.1-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "f55fa87b6c612ecd6b058f167c53231b1d14e412efe361d3d6e38b3631c73218",
        35344199,
        "glibc 2.27",
        "manylinux_2_27_x86_64",
        outside=(),
        why="big Fortran/C++",
    ),
    Case(
        "pyarrow",
        "26.0.1",
        "pyarrow-26.0.1-cp312-cp312-manylinux_2_28_x86_64.whl",
        "c718bf97a92a6dea97fd1062c3b9f9e2e83cb9cc926e752289fa4ffff41738f9",
        55043763,
        "glibc 2.28",
        "manylinux_2_28_x86_64",
        outside=(),
        why="big C++, 38 ELF files",
    ),
    Case(
        "pyarrow",
        "26.0.1",
        "pyarrow-26.0.1-cp312-cp312-musllinux_1_2_x86_64.whl",
        "73534fbda7f73cab0791b569b93112d4c9e1546cedd0f309d1f69889beb6a08f",
        58625736,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel assumes musllinux_1_2 (see the module doc)
        outside=(),
        why="big C++, musllinux",
    ),
    Case(
        "llvmlite",
        "0.50.0",
        "llvmlite-0.50.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        "d501e5103076b9a14be885d2574dc2f6793171aa54a853d1244e011d476f1399",
        59696588,
        "glibc 2.27",
        "manylinux_2_27_x86_64",
        outside=(),
        why="170 MiB C++ library",
    ),
    Case(
        "llvmlite",
        "0.50.0",
        "llvmlite-0.50.0-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        "6e8df54380110ea5e9127386e739d2b0829cc6dfa4a24a9195226336c91b06d5",
        58344485,
        "glibc 2.27",
        "manylinux_2_27_aarch64",
        outside=(),
        why="170 MiB C++ library, aarch64",
    ),
    Case(
        "pillow",
        "13.0.0",
        "pillow-13.0.0-cp312-cp312-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        "8bf295fe459343bc6093c8e5e0df60bfa189e0fcb775a22e2c2488fdeccc6c0d",
        6519309,
        "glibc 2.27",
        "manylinux_2_27_aarch64",
        outside=(),
        why="vendored image libraries, aarch64",
    ),
    Case(
        "grpcio",
        "1.85.3",
        "grpcio-1.85.3-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "8266434d54c3442ebdba71d97e6f688b73dd00194bda6e1e35e57272afbd2d73",
        7360708,
        "glibc 2.17",
        "manylinux_2_17_x86_64",
        outside=(),
        why="big C++, manylinux2014",
    ),
    Case(
        "lxml",
        "6.1.3",
        "lxml-6.1.3-cp312-cp312-musllinux_1_2_x86_64.whl",
        "c55e71a9b1db1f107efb60da49c093689b74c5c31a708e5379e2fd9439d4fbb5",
        5267340,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel assumes musllinux_1_2 (see the module doc)
        outside=(),
        why="vendored libxml2, musllinux",
    ),
    Case(
        "markupsafe",
        "3.0.4",
        "markupsafe-3.0.4-cp312-cp312-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl",
        "6a45c3d514f2436064db00d7fc8778d888f0236ebfed649b53d13a59e69ad51b",
        24363,
        "glibc 2.17",
        "manylinux_2_17_aarch64",
        outside=(),
        why="tiny, three tags",
    ),
    Case(
        "tokenizers",
        "0.23.3",
        "tokenizers-0.23.3-cp310-abi3-musllinux_1_2_x86_64.whl",
        "e05ab7baf7f47b406a95fea6f3b0a484b2ddcd9e1d14b68844c457eb755085a3",
        10266026,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel crashes: it opens the host's libc.so linker script
        outside=(),
        why="abi3 musllinux, auditwheel crashes",
    ),
    Case(
        "pydantic-core",
        "2.50.5",
        "pydantic_core-2.50.5-cp312-cp312-musllinux_1_1_x86_64.whl",
        "3cf575867ecaf89aca440e5a4253d2facf1ca37bab30a4e8c205ec611228126a",
        2501161,
        "musl 1.1",
        "musllinux_1_1_x86_64",  # auditwheel crashes: it opens the host's libc.so linker script
        outside=(),
        why="Rust musllinux needing libc.so, auditwheel crashes",
    ),
    Case(
        "imageio-ffmpeg",
        "0.8.1",
        "imageio_ffmpeg-0.8.1-py3-none-manylinux_2_28_x86_64.whl",
        "050d6850601c3b3890bd2b28306f3b842b3daea390a561101174375a1c460bda",
        67998402,
        "glibc 2.28",
        None,  # auditwheel: linux_x86_64 (GLIBC_PRIVATE); libmvec.so.1 is outside its oldest policy only
        outside=(),
        why="executable bound to GLIBC_PRIVATE: no manylinux tag",
    ),
]


@pytest.fixture(scope="module")
def wheel_dir() -> Path:
    from wheelmatrix.host import cache_dir

    return cache_dir() / "population" / "wheels"


def fetch(case: Case, dest: Path) -> Path:
    try:
        return fetch_wheel(case.name, case.version, case.filename, case.sha256, dest)
    except urllib.error.URLError as exc:  # HTTPError included: the index answered no
        pytest.skip(f"the package index is unreachable or refused {case.filename}: {exc}")
    except (TimeoutError, ConnectionError) as exc:
        pytest.skip(f"the package index is unreachable: {exc}")


@pytest.mark.parametrize("case", CASES, ids=[c.filename.split("-")[0] + ":" + c.why for c in CASES])
def test_scan_reads_and_agrees(case: Case, wheel_dir: Path, tmp_path: Path) -> None:
    path = fetch(case, wheel_dir)
    report = tmp_path / "scan.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "runner"),
        "WHEELMATRIX_CACHE": str(tmp_path / "cache"),  # the scan itself, not a remembered one
    }
    proc = subprocess.run(
        [sys.executable, "-m", "wheelmatrix", "scan", str(path), "--json", str(report)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    scan = json.loads(report.read_text())["static_scan"][0]
    assert scan["files"], f"scan found no ELF file in {case.filename}"
    wheel = Wheel(case.name, case.version, None, "", case.filename, case.sha256, case.size, path)
    answers, _ = wheelmatrix_answers(scan, wheel)
    assert (answers.floor, answers.lowest_tag, tuple(sorted(answers.outside))) == (
        case.floor,
        case.lowest_tag,
        case.outside,
    )
    # auditwheel finds these wheels consistent with their tags (or, without a lowest tag, none
    # at all): so must the scan
    kinds = {f["kind"] for f in scan["findings"]}
    assert not kinds & {"over-claimed", "unshipped-library"}
    assert ("glibc-private" in kinds) == (case.lowest_tag is None and "GLIBC_PRIVATE" in case.why)


NUMPY = next(c for c in CASES if c.filename.startswith("numpy-2.5.5-cp312-cp312-manylinux_2_27_x86_64"))


def test_scan_counts_gnu_unique_exports(wheel_dir: Path, tmp_path: Path) -> None:
    """`readelf --dyn-syms` lists 8 defined default-visibility GLOBAL/WEAK/UNIQUE symbols in
    numpy's _pocketfft_umath, one of them UNIQUE (`std::_Sp_make_shared_tag::_S_ti()::__tag`)."""
    from wheelmatrix.scan.elf import iter_wheel_elves, wheel_exports

    path = fetch(NUMPY, wheel_dir)
    pocketfft = next(e for e in iter_wheel_elves(path) if "/_pocketfft_umath." in e.path)
    assert pocketfft.export_count == 8
    (exports,) = [names for member, names in wheel_exports(path).items() if "/_pocketfft_umath." in member]
    assert "_ZZNSt19_Sp_make_shared_tag5_S_tiEvE5__tag" in exports
    assert len(exports) == 8
