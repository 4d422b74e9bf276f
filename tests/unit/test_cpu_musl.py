"""CPU levels, the ISA-level note, SIGILL decoding, musl diagnoses and reach lines (no engine)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests.fixtures.selection import wheel_for
from tests.fixtures.wheels import Fixture
from wheelmatrix.cell.checks.symbols import illegal_instruction, native_summary
from wheelmatrix.cell.install import QEMU_BIN, cpu_wrapper_argv
from wheelmatrix.config.catalog import default_catalog_path, load_catalog
from wheelmatrix.errors import InputError
from wheelmatrix.findings.diagnose import cpu_gaps
from wheelmatrix.findings.musl import explain_glibc_on_musl
from wheelmatrix.inputs.wheels import parse_inputs
from wheelmatrix.matrix.cells import Target, build_matrix
from wheelmatrix.probe import wm_symbols
from wheelmatrix.scan import cpu
from wheelmatrix.scan.elf import iter_wheel_elves, x86_isa_needed
from wheelmatrix.scan.wheel import static_scans, wheel_reach


# --------------------------------------------------------------------------- levels
def test_levels_map_to_qemu_models() -> None:
    assert [lv.name for lv in cpu.levels("x86_64")] == ["x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
    assert cpu.level("x86_64", "x86-64-v2").qemu == "Nehalem"
    assert cpu.level("aarch64", "armv8.0").qemu == "cortex-a53"
    assert cpu.arch_of("armv8.2") == "aarch64" and cpu.arch_of("x86-64-v3") == "x86_64"
    assert cpu.below("x86_64", "x86-64-v3", "x86-64-v2")
    assert not cpu.below("x86_64", "x86-64-v2", "x86-64-v3")
    assert cpu.below("aarch64", "armv8.1", "armv8.0") and not cpu.below("aarch64", "armv8.1", "armv8.2")


def test_bad_levels_say_what_exists() -> None:
    with pytest.raises(InputError, match="did you mean 'x86-64-v2'") as err:
        cpu.level("x86_64", "x86-64-v22")
    assert "x86-64-v1" in str(err.value.hint)
    with pytest.raises(InputError, match="TCG does not emulate AVX-512"):
        cpu.level("x86_64", "x86-64-v4")
    with pytest.raises(InputError, match="armv8.0 is an aarch64 level, and this cell is x86_64"):
        cpu.level("x86_64", "armv8.0")


@pytest.mark.parametrize(
    ("arch", "code", "text", "needs"),
    [
        ("x86_64", "c5f5fec2", "vpaddd ymm0, ymm1, ymm2", "x86-64-v3"),
        ("x86_64", "f30fb8c0", "popcnt eax, eax", "x86-64-v2"),
        ("x86_64", "62f17d48fec1", "vpaddd zmm0, zmm0, zmm1", "x86-64-v4"),
        ("x86_64", "4801d8", "add rax, rbx", None),
        ("aarch64", "2000e0b8", "ldaddal w0, w0, [x1]", "armv8.1"),
        ("aarch64", "1f2003d5", "nop", None),
    ],
)
def test_decode_names_instruction_and_level(arch: str, code: str, text: str, needs: str | None) -> None:
    insn = cpu.decode(arch, code)
    assert insn is not None
    assert (insn.text, insn.needs) == (text, needs)


def test_decode_rejects_garbage() -> None:
    assert cpu.decode("x86_64", "zz") is None
    assert cpu.decode("x86_64", "") is None


def test_sigill_summary_names_instruction_dso_and_levels() -> None:
    native = {
        "fault": {"signal": "SIGILL", "code": "c5f5fec2", "fault_address": "0x1"},
        "arch": "x86_64",
        "cpu": "x86-64-v2",
    }
    pc = {
        "dso": "/tmp/wm-venv/lib/python3.11/site-packages/pkg/_x.so",
        "symbol": "kernel",
        "symbol_offset": "0x4",
    }
    line = illegal_instruction(native, pc, ["/tmp/wm-venv/lib/python3.11/site-packages"])
    assert line.startswith("illegal instruction `vpaddd ymm0, ymm1, ymm2` in pkg/_x.so (kernel+0x4)")
    assert "needs x86-64-v3" in line and "this cell's CPU is x86-64-v2 (QEMU Nehalem)" in line
    whole = native_summary({**native, "fault": {**native["fault"], "pc": pc}}, [])
    assert "illegal instruction `vpaddd" in whole


# --------------------------------------------------------------------------- static scan
def _isa_levels(wheel: Path) -> set[str | None]:
    return {info.isa_level for info in iter_wheel_elves(wheel)}


def test_isa_level_note_is_read(fixtures: dict[str, Fixture]) -> None:
    assert _isa_levels(wheel_for(fixtures["newcpudecl"], "x86_64")) == {"x86-64-v3"}
    assert _isa_levels(wheel_for(fixtures["newcpu"], "x86_64")) == {None}


def test_isa_note_parser_handles_other_properties() -> None:
    def prop(kind: int, value: int) -> bytes:
        return (
            kind.to_bytes(4, "little") + (4).to_bytes(4, "little") + value.to_bytes(4, "little") + b"\0" * 4
        )

    desc = prop(0xC0000002, 3) + prop(0xC0008002, 0b0011)  # FEATURE_1_AND, then ISA NEEDED v1|v2
    note = (4).to_bytes(4, "little") + len(desc).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"GNU\0"
    assert x86_isa_needed(note + desc) == "x86-64-v2"
    assert x86_isa_needed(note + prop(0xC0000002, 3)) is None
    assert x86_isa_needed(b"") is None


def test_declared_level_predicts_cpu_cells(fixtures: dict[str, Fixture]) -> None:
    wheel = wheel_for(fixtures["newcpudecl"], "x86_64")
    scan = next(iter(static_scans(parse_inputs([str(wheel)], role="wheel")).values()))
    gaps = cpu_gaps(scan, "x86_64", "x86-64-v2")
    assert [g.kind for g in gaps] == ["cell-cpu"]
    assert "declares that it needs x86-64-v3" in gaps[0].message and "expect SIGILL" in gaps[0].message
    assert cpu_gaps(scan, "x86_64", "x86-64-v3") == []
    assert cpu_gaps(scan, "x86_64", "") == []


def test_matrix_runs_each_level_for_its_arch_only() -> None:
    catalog = load_catalog(default_catalog_path())
    d = catalog.get("debian-12")
    targets = [
        Target(distro=d, arch="x86_64", emulated=False),
        Target(distro=d, arch="aarch64", emulated=True),
    ]
    from wheelmatrix.config.scenarios import default_scenarios_path, load_scenarios

    scenario = load_scenarios(default_scenarios_path())["import"]
    cells = build_matrix(targets, [scenario], [], cpus=["x86-64-v2", "x86-64-v3"])
    assert sorted(c.id for c in cells) == [
        "debian-12/aarch64/py3.11/import",
        "debian-12/x86_64/py3.11/import+cpu-x86-64-v2",
        "debian-12/x86_64/py3.11/import+cpu-x86-64-v3",
    ]
    assert {c.cpu for c in cells} == {"", "x86-64-v2", "x86-64-v3"}


def test_cpu_wrapper_keeps_the_venv() -> None:
    argv = cpu_wrapper_argv("/usr/bin/python3", "Nehalem")
    assert argv[:2] == ("/bin/sh", "-c") and argv[-4:] == (
        "/usr/bin/python3",
        "/tmp/wm-venv",
        QEMU_BIN,
        "Nehalem",
    )
    assert '-0 \\"$0\\"' in argv[2] or '-0 "$0"' in argv[2].replace("\\", "")
    assert "sys.prefix != sys.base_prefix" in argv[2]


# --------------------------------------------------------------------------- musl
def _extract(wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    return next(dest.rglob("_native.abi3.so"))


def test_probe_reads_symbol_versions_of_undefined_names(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    so = _extract(wheel_for(fixtures["glibconly"], "x86_64"), tmp_path)
    undefined = wm_symbols.undefined(str(so))
    assert undefined["gnu_get_libc_version"] == "GLIBC_2.2.5"
    assert all(not name.startswith("PyInit") for name in undefined)


def test_own_ldd_reports_glibc_symbols_musl_lacks(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    """The probe's ELF-only ldd: against a 'libc' that defines only part of what the file needs."""
    so = _extract(wheel_for(fixtures["glibconly"], "x86_64"), tmp_path)
    provided = {"PyModule_Create2", "PyModule_AddStringConstant", "__cxa_finalize"}
    libs, problems = wm_symbols.own_ldd(str(so), provided)
    assert "libc.so.6" in libs
    wanted = {p["symbol"]: p.get("needs_version") for p in problems}
    assert wanted.get("gnu_get_libc_version") == "GLIBC_2.2.5"


def test_glibc_on_musl_explanations() -> None:
    versioned = explain_glibc_on_musl(
        "pkg/_x.so: undefined symbol gnu_get_libc_version (wants gnu_get_libc_version@GLIBC_2.2.5)"
    )
    assert "linked against glibc" in versioned and "rego-cpp#226" in versioned
    loader = explain_glibc_on_musl(
        "ImportError: Error relocating /x/_native.abi3.so: gnu_get_libc_version: symbol not found"
    )
    assert "musl's loader cannot resolve `gnu_get_libc_version`" in loader
    assert explain_glibc_on_musl("ModuleNotFoundError: No module named 'x'") == ""


def test_thread_stack_rerun_is_explained() -> None:
    native = {
        "fault": {"signal": "SIGSEGV", "fault_address": "0x7f", "pc": {"dso": "/x/_n.so", "offset": "0x1"}},
        "thread_stack": {"default": "128 KiB", "raised_to": "8 MiB", "exit": 0},
    }
    line = native_summary(native, [])
    assert "runs with 8 MiB default thread stacks" in line and "musl's 128 KiB default" in line
    native["thread_stack"] = {"default": "128 KiB", "raised_to": "8 MiB", "exit": -11}
    assert "thread stacks" not in native_summary(native, [])


# --------------------------------------------------------------------------- reach
def test_reach_lines_for_tag_and_needs(fixtures: dict[str, Fixture]) -> None:
    wheel = wheel_for(fixtures["newglibc"], "x86_64")
    scan = next(iter(static_scans(parse_inputs([str(wheel)], role="wheel")).values()))
    (line,) = wheel_reach(scan)
    assert line.startswith("tagged manylinux_2_17, admits ")
    assert "x86_64 downloads; needs glibc 2.36, which " in line and "source: manylinux-timeline" in line
    musl = next(
        iter(
            static_scans(
                parse_inputs([str(wheel_for(fixtures["glibconly"], "x86_64"))], role="wheel")
            ).values()
        )
    )
    assert wheel_reach(musl) == [line for line in wheel_reach(musl) if "no musl breakdown" in line] != []


def test_relr_in_a_musllinux_wheel_is_named(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    """Packed relative relocations (ld -z pack-relative-relocs, as current Alpine links): musl
    before 1.2.4 cannot load them, though musllinux_1_2 admits musl 1.2.0."""
    import shutil
    import subprocess

    from wheelmatrix.scan.elf import scan_elf
    from wheelmatrix.scan.policy import judge_files

    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    src = tmp_path / "x.c"
    src.write_text("static int v; int *p = &v; int get(void) { return *p; }\n")
    out = tmp_path / "libx.so"
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-Wl,-z,pack-relative-relocs", str(src), "-o", str(out)], check=True
    )
    info = scan_elf("pkg.libs/libx.so", out.read_bytes())
    assert info.relr
    scan = judge_files("pkg", (info,), ["musllinux_1_2_x86_64"])
    (finding,) = [f for f in scan.findings if f.kind == "relr-musl"]
    assert "musl reads only since 1.2.4" in finding.message and finding.file == "pkg.libs/libx.so"
    plain = tmp_path / "liby.so"
    subprocess.run(["gcc", "-shared", "-fPIC", str(src), "-o", str(plain)], check=True)
    assert not scan_elf("liby.so", plain.read_bytes()).relr


def test_scan_names_a_declared_isa_level(fixtures: dict[str, Fixture]) -> None:
    wheel = wheel_for(fixtures["newcpudecl"], "x86_64")
    scan = next(iter(static_scans(parse_inputs([str(wheel)], role="wheel")).values()))
    (finding,) = [f for f in scan.findings if f.kind == "isa-level"]
    assert finding.version == "x86-64-v3" and "try --cpu x86-64-v2" in finding.message
    undeclared = str(wheel_for(fixtures["newcpu"], "x86_64"))
    plain = next(iter(static_scans(parse_inputs([undeclared], role="wheel")).values()))
    assert not [f for f in plain.findings if f.kind == "isa-level"]


def test_function_at_names_static_functions(fixtures: dict[str, Fixture], tmp_path: Path) -> None:
    from wheelmatrix.scan.elf import function_at

    so = _extract(wheel_for(fixtures["newcpu"], "x86_64"), tmp_path)
    data = so.read_bytes()
    from elftools.elf.elffile import ELFFile

    sym = next(
        s
        for s in ELFFile(so.open("rb")).get_section_by_name(".symtab").iter_symbols()
        if s.name == "newer_cpu_op"
    )
    assert function_at(data, sym["st_value"] + 3) == ("newer_cpu_op", 3)
    assert function_at(data, 0) is None
