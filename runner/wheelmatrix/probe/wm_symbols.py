"""wheelmatrix symbol probe: runs inside a cell's container. Stdlib only; Python 3.6+.

    wm_symbols.py smoke PLAN_JSON   libraries and eager binding of each candidate's ELF files,
                                    then the DSOs loaded by importing everything, duplicate
                                    runtimes, and symbols defined by more than one DSO
    wm_symbols.py crash PLAN_JSON   re-run a crashed check to collect native evidence:
                                    faulting address -> DSO + nearest symbol, a gdb backtrace
                                    when the image has gdb, and dynamic-linker bindings

Results are printed as one marked JSON line each.
"""

import bisect
import concurrent.futures
import glob
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time

MARK = "@@WM@@ "
# The runner's secret for this call (wheelmatrix/backends/probe_stream.py): every record line
# carries it, so a line the program under test prints is never taken for one. Removed from our
# environment before anything is started, so nothing we run sees it.
TOKEN = os.environ.pop("WM_PROBE_TOKEN", "")
CRASH_MARK = "@@WMCRASH@@ "
RUNTIMES = [
    ("libstdc++", r"libstdc\+\+"),
    ("libgcc_s", r"libgcc_s"),
    ("libgomp", r"libgomp"),
    ("libgfortran", r"libgfortran"),
    ("libquadmath", r"libquadmath"),
    ("OpenBLAS", r"openblas"),
    ("libcrypto", r"libcrypto"),
    ("libssl", r"libssl"),
    ("libz", r"libz[.-]"),
    ("jemalloc", r"jemalloc"),
]
BENIGN = (
    "PyInit_",
    "_init",
    "_fini",
    "_edata",
    "_end",
    "__bss_start",
    "_ITM_",
    "__gmon_start__",
    "__cxa_finalize",
    # the static linker defines these in every aarch64 shared object: never a collision
    "__bss_end__",
    "_bss_end__",
    "__end__",
    "__bss_start__",
)
# how package code is started: isolated (-I), sharing one bytecode cache per user in the cell
# (the first check that imports a module compiles it; -I ignores PYTHONPYCACHEPREFIX)
ISOLATED = ["-I", "-X", "pycache_prefix=/tmp/wm-pycache-%d" % os.getuid()]
# C++ runtime pieces whose duplication breaks std::call_once, exceptions and RTTI.
CXX_RUNTIME = re.compile(r"^(__once_proxy|_ZSt11__once_call|_ZSt15__once_callable)$")


# The QEMU settings the runner gave this process (an emulated cell): kept in every environment
# the probe builds, since each process's emulator reads them as it starts.
EMULATOR_ENV = {k: v for k, v in os.environ.items() if k == "QEMU_CPU"}


def emit(obj):
    sys.stdout.write(MARK + (TOKEN + " " if TOKEN else "") + json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- where files are read ------------------------------------------------------------------------
# The probe reads the cell's files where it runs. The runner reuses the analysis half of it on
# its own side for an emulated cell (issue 19: parsing ELF files in an emulated interpreter is
# slow), over copies read through the engine API: it sets, for its thread, an object with the
# same five calls (wheelmatrix/cell/checks/cellfiles.py).
class _Here:
    open = staticmethod(open)
    isfile = staticmethod(os.path.isfile)
    realpath = staticmethod(os.path.realpath)
    listdir = staticmethod(os.listdir)
    unlink = staticmethod(os.unlink)


_WHERE = threading.local()


def files():
    return getattr(_WHERE, "files", None) or _Here


class reading_through:
    """`with reading_through(view):` the analysis in this thread reads files through VIEW."""

    def __init__(self, view):
        self.view = view

    def __enter__(self):
        _WHERE.files = self.view
        return self.view

    def __exit__(self, *exc):
        _WHERE.files = None


# -- a small ELF reader: dynamic symbols of 64-bit little-endian files ---------------------------
def _sections(path):
    """Section headers (name, type, flags, addr, offset, size, ...) of a 64-bit LE ELF file."""
    with files().open(path, "rb") as fh:
        head = fh.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return []
        shoff = struct.unpack_from("<Q", head, 40)[0]
        shentsize, shnum = struct.unpack_from("<HH", head, 58)
        fh.seek(shoff)
        table = fh.read(shentsize * shnum)
    return [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]


def _tables(path, sh_type):
    """(string table, contents) of each section of the given type in a 64-bit little-endian ELF
    file, the string table being the one the section links to; [] if it is not such a file."""
    out = []
    sections = _sections(path)
    with files().open(path, "rb") as fh:
        for sec in sections:
            if sec[1] == sh_type:
                strtab = sections[sec[6]]
                fh.seek(strtab[4])
                names = fh.read(strtab[5])
                fh.seek(sec[4])
                out.append((names, fh.read(sec[5])))
    return out


def _string(names, offset):
    return names[offset : names.find(b"\0", offset)].decode("utf-8", "replace")


def definitions(path):
    """{name: (bind, type, value, size, section index)} of defined, default-visibility dynamic
    symbols; {} if unreadable."""
    out = {}
    binds = {1: "global", 2: "weak", 10: "unique"}
    kinds = (0, 1, 2, 6, 10)
    try:
        for names, data in _tables(path, 11):  # SHT_DYNSYM
            # whole entries only, unpacked by struct's own loop (this runs under emulation too)
            whole = memoryview(data)[: len(data) - len(data) % 24]
            for st_name, st_info, st_other, st_shndx, value, size in struct.iter_unpack("<IBBHQQ", whole):
                if st_shndx == 0 or st_shndx >= 0xFF00 or (st_other & 3) not in (0, 3):
                    continue
                bind = binds.get(st_info >> 4)
                if bind is None or (st_info & 0xF) not in kinds:
                    continue
                name = _string(names, st_name)
                if name:
                    out[name] = (bind, st_info & 0xF, value, size, st_shndx)
    except (OSError, struct.error, IndexError):
        return {}
    return out


def dynsyms(path):
    """{name: (bind, type)} of defined, default-visibility dynamic symbols; {} if unreadable."""
    return {name: d[:2] for name, d in definitions(path).items()}


def relocated(path):
    """Sorted addresses the dynamic linker writes to in a file (r_offset of its REL/RELA
    entries): bytes there are not what runs, so contents covering them cannot be compared."""
    out = []
    try:
        for sh_type, entry in ((4, 24), (9, 16)):  # SHT_RELA, SHT_REL
            for _names, data in _tables(path, sh_type):
                out.extend(
                    struct.unpack_from("<Q", data, off)[0] for off in range(0, len(data) - entry + 1, entry)
                )
    except (OSError, struct.error, IndexError):
        return None
    return sorted(out)


def contents(path, definition, fixups):
    """A digest of a data object's initial bytes as the file holds them; None when they cannot be
    read (not an object, relocated at load time, unreadable)."""
    _bind, kind, value, size, shndx = definition
    if kind != 1 or fixups is None or size > 1 << 20:  # STT_OBJECT only: code moves with layout
        return None
    at = bisect.bisect_left(fixups, value)
    if at < len(fixups) and fixups[at] < value + size:
        return None
    try:
        sec = _sections(path)[shndx]
        if sec[1] == 8:  # SHT_NOBITS: zero-initialised
            data = bytes(size)
        else:
            with files().open(path, "rb") as fh:
                fh.seek(sec[4] + value - sec[3])
                data = fh.read(size)
    except (OSError, struct.error, IndexError):
        return None
    return hashlib.sha256(data).hexdigest()[:16] if len(data) == size else None


def dynamic(path):
    """(DT_NEEDED names, DT_RUNPATH/DT_RPATH directories) of an ELF file; empty if unreadable."""
    wanted, paths = [], []
    try:
        for names, data in _tables(path, 6):  # SHT_DYNAMIC
            for off in range(0, len(data) - 15, 16):
                tag, val = struct.unpack_from("<qQ", data, off)
                if tag == 0:
                    break
                if tag == 1:  # DT_NEEDED
                    wanted.append(_string(names, val))
                elif tag in (15, 29):  # DT_RPATH, DT_RUNPATH
                    paths.extend(_string(names, val).split(":"))
    except (OSError, struct.error, IndexError):
        return [], []
    origin = os.path.dirname(path)
    dirs = [os.path.normpath(d.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)) for d in paths if d]
    return wanted, dirs


def undefined(path):
    """{name: required symbol version or None} of the undefined STB_GLOBAL dynamic symbols of an
    ELF file (weak ones may stay unresolved); {} if unreadable."""
    out = {}
    try:
        syms = _tables(path, 11)  # SHT_DYNSYM
        if not syms:
            return out
        names, data = syms[0]
        versym = _tables(path, 0x6FFFFFFF)  # SHT_GNU_versym: one half-word per dynamic symbol
        indices = versym[0][1] if versym else b""
        need = {}
        for vnames, vdata in _tables(path, 0x6FFFFFFE):  # SHT_GNU_verneed
            off = 0
            while off + 16 <= len(vdata):
                _version, count, _file, aux, following = struct.unpack_from("<HHIII", vdata, off)
                at = off + aux
                for _ in range(count):
                    _hash, _flags, other, name, nxt = struct.unpack_from("<IHHII", vdata, at)
                    need[other] = _string(vnames, name)
                    at += nxt
                if not following:
                    break
                off += following
        for i, off in enumerate(range(0, len(data) - 23, 24)):
            st_name, st_info, _other, st_shndx = struct.unpack_from("<IBBH", data, off)
            if st_shndx != 0 or st_info >> 4 != 1:
                continue
            name = _string(names, st_name)
            if not name:
                continue
            version = None
            if 2 * i + 2 <= len(indices):
                version = need.get(struct.unpack_from("<H", indices, 2 * i)[0] & 0x7FFF)
            out[name] = version
    except (OSError, struct.error, IndexError):
        return {}
    return out


def static_tls(path):
    """Bytes of initial-exec TLS an object asks for when dlopen'd: its PT_TLS size when its
    DT_FLAGS has DF_STATIC_TLS (it must go into the static TLS block); 0 otherwise."""
    try:
        with files().open(path, "rb") as fh:
            head = fh.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return 0
            phoff = struct.unpack_from("<Q", head, 32)[0]
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            fh.seek(phoff)
            table = fh.read(phentsize * phnum)
        size = 0
        for i in range(phnum):
            p_type = struct.unpack_from("<I", table, i * phentsize)[0]
            if p_type == 7:  # PT_TLS
                size = struct.unpack_from("<Q", table, i * phentsize + 40)[0]  # p_memsz
        if not size:
            return 0
        for _names, data in _tables(path, 6):
            for off in range(0, len(data) - 15, 16):
                tag, val = struct.unpack_from("<qQ", data, off)
                if tag == 30 and val & 0x10:  # DT_FLAGS & DF_STATIC_TLS
                    return size
        return 0
    except (OSError, struct.error, IndexError):
        return 0


_STARTUP = {}


def startup_objects(python):
    """The real paths of the objects the interpreter starts with (its executable and what it
    needs): loaded before any import, they are not dlopen'd."""
    if python not in _STARTUP:
        exe = os.path.realpath(python)
        libs, _problems = ldd(exe)
        _STARTUP[python] = sorted({exe} | {os.path.realpath(p) for p in (libs or {}).values() if p})
    return _STARTUP[python]


def dlopened(startup, dsos):
    """The loaded objects that came with imports (dlopen), not with the interpreter's start: only
    those compete for the static TLS the loader keeps in reserve."""
    startup = set(startup)
    return [p for p in dsos if files().realpath(p) not in startup and "/ld-" not in p]


def static_tls_reserve():
    """glibc's glibc.rtld.optional_static_tls (bytes kept for dlopen'd initial-exec TLS), from
    `ld.so --list-tunables` (glibc 2.33+); None where that cannot be read (older glibc, musl)."""
    for loader in sorted(glob.glob("/lib*/ld-linux-*.so.*") + glob.glob("/lib/*/ld-linux-*.so.*")):
        try:
            out = subprocess.run(
                [loader, "--list-tunables"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
            )
        except OSError:
            continue
        m = re.search(
            r"glibc\.rtld\.optional_static_tls: (0x[0-9a-f]+|\d+)", out.stdout.decode("utf-8", "replace")
        )
        if m:
            return int(m.group(1), 0)
    return None


# -- without ldd: musl ---------------------------------------------------------------------------
# musl's loader has no LD_DEBUG and `ldd -r` of glibc is not there: its libc answers for these
# names itself (it never loads a second libc), and the rest is found by RUNPATH and its path file.
MUSL_LIBC_NAMES = re.compile(r"^lib(c|pthread|rt|m|dl|util|xnet)\.")  # as musl's ldso matches them


def musl_loader():
    found = sorted(glob.glob("/lib/ld-musl-*.so.1"))
    return os.path.realpath(found[0]) if found else None


def loader_dirs():
    for path in sorted(glob.glob("/etc/ld-musl-*.path")):
        with open(path) as fh:
            return [d for d in re.split(r"[:\n]", fh.read()) if d.strip()]
    return ["/lib", "/usr/local/lib", "/usr/lib"]


def own_ldd(path, provided=()):
    """The same answer as `ldd -r` from the probe's own ELF reading: {needed: path or None} over
    the whole closure, and the undefined symbols none of the loaded objects defines (each with
    the symbol version it asks for, which names glibc when a wheel was linked against it)."""
    libc, default = musl_loader(), loader_dirs()
    libs, order, queue = {}, [], [path]
    while queue:
        cur = queue.pop(0)
        if cur in order:
            continue
        order.append(cur)
        wanted, dirs = dynamic(cur)
        for name in wanted:
            if name in libs:
                continue
            if libc and MUSL_LIBC_NAMES.match(name):
                libs[name] = libc
                continue
            hit = next(
                (os.path.join(d, name) for d in dirs + default if os.path.isfile(os.path.join(d, name))), None
            )
            libs[name] = hit
            if hit:
                queue.append(hit)
    defined = set(provided)
    for obj in order[1:] + sorted({p for p in libs.values() if p and p not in order}):
        defined.update(dynsyms(obj))
    defined.update(dynsyms(path))
    problems = []
    for obj in order:
        for name, version in sorted(undefined(obj).items()):
            if name in defined or name.startswith(("Py", "_Py")):
                continue
            problem = {"symbol": name, "file": obj}
            if version:
                problem["needs_version"] = version
            problems.append(problem)
    return libs, problems


def dlopen_now(paths, python, timeout):
    """{path: loader error} from loading each file with RTLD_NOW in a child (the loader's own
    verdict: musl names the first symbol it cannot relocate)."""
    code = (
        "import ctypes, json, os, sys\n"
        "errors = {}\n"
        "for p in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        ctypes.CDLL(p, mode=os.RTLD_NOW | os.RTLD_LOCAL)\n"
        "    except OSError as exc:\n"
        "        errors[p] = str(exc)\n"
        "print('@@DL@@' + json.dumps(errors))\n"
    )
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", **EMULATOR_ENV}
    out = _run([python, *ISOLATED, "-c", code, json.dumps(list(paths))], env, timeout)
    for line in out.splitlines():
        if line.startswith("@@DL@@"):
            return json.loads(line[len("@@DL@@") :])
    return {}


# -- smoke ---------------------------------------------------------------------------------------
_PROVIDED = {}


def interpreter_symbols(python):
    """Symbols the interpreter process already provides (its executable and its libraries):
    extension modules rely on them without listing them in DT_NEEDED (libm, libpython)."""
    if python not in _PROVIDED:
        names = set()
        for obj in startup_objects(python):
            names.update(dynsyms(obj))
        _PROVIDED[python] = names
    return _PROVIDED[python]


# What glibc's `ldd -r FILE` sets before it runs the dynamic linker on FILE (its --verify
# prints nothing, hence the empty version)
TRACE_ENV = dict(
    os.environ,
    LD_TRACE_LOADED_OBJECTS="1",
    LD_WARN="yes",
    LD_BIND_NOW="yes",
    LD_LIBRARY_VERSION="",
    LD_VERBOSE="",
)
_RTLD = {}


def rtld(tool, path):
    """The dynamic linker glibc's ldd script (TOOL) would trace PATH with: the first one of its
    RTLDLIST that can run it (same ELF class and machine, which its --verify checks); None if
    the script is not that one. `ldd -r` is a shell script that starts the linker three times
    per file (--version, --verify, the trace); under emulation each is its own emulator, so the
    probe runs only the trace, with the script's own environment."""
    if tool not in _RTLD:
        m = None
        try:
            with open(tool, errors="replace") as fh:
                m = re.search(r'^RTLDLIST="?([^"\n]*)"?$', fh.read(1 << 16), re.M)
        except OSError:
            pass
        names = m.group(1).split() if m else []
        _RTLD[tool] = [(p, _machine(p)) for p in names if os.access(p, os.X_OK)]
    want = _machine(path)
    if want is None:
        return None
    return next((p for p, machine in _RTLD[tool] if machine == want), None)


def _machine(path):
    """(ELF class, byte order, e_machine) of a file; None if it is not an ELF file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    return head[4], head[5], head[18:20]


def ldd(path, provided=()):
    """{needed: resolved path or None}, [unresolved symbol lines] from `ldd -r` (glibc), or from
    the probe's own ELF reading where there is no glibc ldd (musl)."""
    tool = shutil.which("ldd")
    if tool is None or musl_loader():
        return own_ldd(path, provided)
    loader = rtld(tool, path)
    if loader is not None:
        proc = subprocess.run([loader, path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=TRACE_ENV)
    else:
        proc = subprocess.run([tool, "-r", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    text = proc.stdout.decode("utf-8", "replace")
    libs, problems = {}, []
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"^(\S+) => (not found|\S+)", line)
        if m:
            libs[m.group(1)] = None if m.group(2) == "not found" else m.group(2)
            continue
        m = re.match(r"^undefined symbol: (\S+)\s+\((.*)\)", line)
        if m:
            if not m.group(1).startswith(("Py", "_Py")) and m.group(1) not in provided:
                problems.append({"symbol": m.group(1), "file": m.group(2)})
            continue
        m = re.search(r"version `([^']+)' not found \(required by ([^)]+)\)", line)
        if m:
            problems.append({"version": m.group(1), "file": m.group(2), "line": line})
    return libs, problems


def loaded_dsos(python, modules, timeout, log=None):
    """(paths of the shared objects mapped after importing the modules, or None; why not; the
    exit status). With LOG, the dynamic linker's bindings are written to LOG.PID as it runs."""
    env = _traced_env(log) if log else None
    code = "\n".join("import " + m for m in modules) + (
        "\nimport json\npaths = []\n"
        "for line in open('/proc/self/maps'):\n"
        "    parts = line.split(None, 5)\n"
        "    if len(parts) == 6 and '.so' in parts[5] and parts[5].strip() not in paths:\n"
        "        paths.append(parts[5].strip())\n"
        "print('@@DSOS@@' + json.dumps(paths))\n"
    )
    try:
        proc = subprocess.run(
            [python, *ISOLATED, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            cwd="/",
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None, "importing timed out", None
    out = proc.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        if line.startswith("@@DSOS@@"):
            return json.loads(line[len("@@DSOS@@") :]), None, proc.returncode
    why = "import failed (rc %s): %s" % (proc.returncode, out.strip().splitlines()[-1:] or "")
    return None, why, proc.returncode


def runtime_copies(dsos):
    found = {}
    for path in dsos:
        base = os.path.basename(path)
        for name, pattern in RUNTIMES:
            if re.search(pattern, base, re.IGNORECASE):
                real = files().realpath(path)
                found.setdefault(name, [])
                if real not in found[name]:
                    found[name].append(real)
    return {k: v for k, v in found.items() if len(v) > 1}


ARCHIVE = re.compile(r"^.*/archive-v0/[^/]+/")  # uv's unpacked wheels (symlink installs)


def wheel_relative(path, site_dirs):
    """'wmcolla/_a.abi3.so' for a file from a wheel (site-packages or uv's cache), else None."""
    for d in site_dirs:
        if path.startswith(d.rstrip("/") + "/"):
            return path[len(d.rstrip("/")) + 1 :]
    m = ARCHIVE.match(path)
    return path[m.end() :] if m else None


def collisions(dsos, site_dirs):
    """Symbols defined by more than one loaded DSO, at least one of them shipped in a wheel."""
    owners = {}
    for path in dsos:
        for name, (bind, _kind) in dynsyms(path).items():
            if name.startswith(BENIGN):
                continue
            owners.setdefault(name, []).append((path, bind))
    out = []
    for name, defs in sorted(owners.items()):
        # in the order of the wheels' own names: uv's cache folders are named at random
        paths = sorted({p for p, _b in defs}, key=lambda p: (wheel_relative(p, site_dirs) or p, p))
        if len(paths) < 2:
            continue
        from_wheels = [p for p in paths if wheel_relative(p, site_dirs)]
        if not from_wheels:
            continue
        projects = {_project(p, site_dirs) for p in from_wheels}
        strong = [p for p, b in defs if b == "global"]
        unique = any(b == "unique" for _p, b in defs)
        cxx = bool(CXX_RUNTIME.match(name))
        systemwide = [p for p in paths if not wheel_relative(p, site_dirs)]
        # What can really break: std::call_once's machinery defined by a wheel as well as by
        # libstdc++ (the first copy loaded wins); a symbol of the wheels' own (no system
        # library defines it) with strong or STB_GNU_UNIQUE definitions in two different
        # wheels. Vague linkage (weak RTTI, template instances), runtime pieces that manylinux
        # toolchains link statically into many wheels, and one wheel's own libraries defining
        # the same symbols are normal.
        cross = len({_project(p, site_dirs) for p in strong if wheel_relative(p, site_dirs)}) > 1
        if not (cxx or (not systemwide and (cross or (unique and len(projects) > 1)))):
            continue
        out.append({"symbol": name, "files": paths, "cxx_runtime": cxx})
    return out


def shared_copies(dsos, same_libs, site_dirs):
    """For bundled libraries two wheels ship under one name with different contents: which copy
    the process loaded, and the loaded objects whose own search path leads to another copy but
    which run against the loaded one (the dynamic linker reuses a loaded library whose name
    matches instead of loading a second)."""
    loaded = {}
    for path in dsos:
        rel = wheel_relative(path, site_dirs)
        if rel:
            loaded[rel] = path
    out = []
    for entry in same_libs:
        name = entry["name"]
        copies = [list(c) for c in entry["copies"]]
        used = [c for c in copies if c[1] in loaded]
        unused = [c for c in copies if c[1] not in loaded]
        users = []
        for rel, path in sorted(loaded.items()):
            wanted, dirs = dynamic(path)
            if name not in wanted:
                continue
            for dist, copy in unused:
                copy_dir = os.path.dirname(copy)
                # the object's own search path holds this (unloaded) copy: it meant to load it
                if any(wheel_relative(d + "/x", site_dirs) == copy_dir + "/x" for d in dirs):
                    users.append({"file": rel, "expected": [dist, copy]})
                    break
        out.append({"name": name, "loaded": used, "not_loaded": unused, "users": users})
    return out


def _project(path, site_dirs):
    rel = wheel_relative(path, site_dirs) or path
    return re.sub(r"\.libs$", "", rel.split("/", 1)[0])


class Steps:
    """Seconds per step of the smoke, for the run's profile (emitted last, as {"steps": ...})."""

    def __init__(self):
        self.done = []
        self.name, self.start = None, None

    def __call__(self, name):
        now = time.monotonic()
        if self.name is not None:
            self.done.append([self.name, round(now - self.start, 3)])
        self.name, self.start = name, now

    def emit(self):
        self(None)
        emit({"steps": self.done})


def cmd_smoke(plan):
    steps = Steps()
    try:
        _smoke(plan, steps)
    finally:
        steps.emit()


def cmd_trace(plan):
    """Import one order (plan["order"]) traced; {"traced": [log prefix, whether it exited 0]}."""
    emit({"traced": list(trace_order(plan, plan["order"]))})


def cmd_analyse(plan):
    """The analysis half of the smoke, in the cell, over what its observing half reported."""
    steps = Steps()
    try:
        emit(analyse(plan, plan["observed"], steps, lambda i: trace_order(plan, i)))
    finally:
        steps.emit()


def _smoke(plan, step):
    step("libraries and eager binding of each file")
    # Vendored libraries (pkg.libs/) are resolved through the extension that loads them (its
    # RPATH); checked alone they would seem to miss their siblings.
    todo = [(project, path) for project, paths in plan["files"].items() for path in paths]
    todo = [(project, path) for project, path in todo if not re.search(r"\.libs/", path)]
    provided = interpreter_symbols(plan["python"])
    # One `ldd -r` per file, a few at a time: each is its own dynamic-linker process (under
    # emulation, its own emulator), so they use the cores the rest of the cell leaves idle.
    workers = max(1, min(4, os.cpu_count() or 1, len(todo)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        answers = list(pool.map(lambda item: ldd(item[1], provided), todo))
    files_rec = {}
    for i, (project, path) in enumerate(todo):
        libs, problems = answers[i]
        files_rec[path] = {"project": project, "needed": libs, "unresolved": problems}
    if musl_loader():
        step("dlopen of each file")
        for path, error in dlopen_now(sorted(files_rec), plan["python"], plan["timeout"]).items():
            files_rec[path]["load_error"] = error
    emit({"files": files_rec})
    observed = observe(plan, step)
    if observed is None:
        return
    step("objects the interpreter starts with, static TLS reserve")
    observed["startup"] = startup_objects(plan["python"])
    observed["reserve"] = static_tls_reserve()
    if plan.get("observe_only"):
        # the runner analyses what was observed on its own side (an emulated cell): the sizes
        # tell it what reading the loaded objects out of the cell would cost
        observed["bytes"] = sum(os.path.getsize(p) for p in observed["loaded"] if os.path.isfile(p))
        emit({"observed": observed})
        return
    emit(analyse(plan, observed, step, lambda i: trace_order(plan, i)))


def observe(plan, step):
    """What must be seen in the cell itself: the objects importing everything loads (the whole
    set in the given order; if that fails, since a crash is what we are here to explain, the
    other order; else every module alone and the union of what loaded) and, under glibc, the
    dynamic linker's bindings of each order imported, logged as they are made (LD_DEBUG). Imports
    the import scenario already traced in this cell (same modules, same order) are read, not
    repeated. {"loaded", "partial", "used", "traceable", "logs": {order: [log, exited 0]}}, or
    None when nothing could be imported (that record is emitted here)."""
    traceable = not musl_loader()  # musl's loader has no LD_DEBUG
    logs = {}  # order index -> (log prefix, whether that import exited 0)
    traces = plan.get("traces") or [None] * len(plan["orders"])
    shared = [_shared_trace(t) for t in traces]
    for i, got in enumerate(shared):
        if got is not None and traceable:  # a log of an order that failed still tells bindings
            logs[i] = (traces[i] + ".ld", got[1] == 0)
    dsos, why, partial, used = None, None, False, None
    for i, order in enumerate(plan["orders"]):
        if shared[i] is not None and shared[i][0] is not None:
            step("loaded objects, from the import scenario's trace")
            dsos, used = shared[i][0], order
            break
        step("import everything, list the loaded objects")
        log = _own_log(plan, i) if traceable else None
        dsos, why, rc = loaded_dsos(plan["python"], order, plan["timeout"], log)
        if log:
            logs[i] = (log, rc == 0)
        if dsos is not None:
            used = order
            break
    if dsos is None:
        union = []
        for module in plan["modules"]:
            got, _why, _rc = loaded_dsos(plan["python"], [module], plan["timeout"])
            union += [p for p in got or [] if p not in union]
        dsos, partial = (union, True) if union else (None, False)
    if dsos is None:
        _drop_logs(logs)
        emit({"loaded": None, "why": why})
        return None
    return {
        "loaded": dsos,
        "partial": partial,
        "used": used,
        "traceable": traceable,
        "logs": {str(i): list(v) for i, v in logs.items()},
    }


def _own_log(plan, i):
    return os.path.join(plan.get("trace_dir") or "/tmp", "smoke-%d" % i)


def trace_order(plan, i):
    """(log prefix, whether it exited 0) of importing order I with its bindings traced."""
    log = _own_log(plan, i)
    return log, traced_import(plan["python"], plan["orders"][i], plan["timeout"], log) == 0


def analyse(plan, observed, step, trace):
    """What the files and the logs tell about the observed imports: symbols defined by more
    than one loaded object, which of them the dynamic linker bound across wheels (TRACE(i) runs
    order i traced when no log of it is there yet), what each crossed definition is, duplicate
    runtimes, shared copies of bundled libraries and static TLS. Pure reading: the runner runs
    it on its own side for emulated cells (reading_through)."""
    dsos = observed["loaded"]
    logs = {int(i): tuple(v) for i, v in (observed.get("logs") or {}).items()}
    step("symbols defined by more than one object")
    found = collisions(dsos, plan["site_dirs"])
    traced = observed["used"] is not None and observed["traceable"]
    imported = None  # whether each order imported, while its bindings were traced
    if found and traced:
        # Every order: a binding made just before a crash is in the log too (written as made).
        step("bindings of the colliding symbols (LD_DEBUG)")
        crossed, imported = {}, []
        for i, _order in enumerate(plan["orders"]):
            if i not in logs:  # an order the import step did not need to run
                logs[i] = trace(i)
            log, ok = logs.pop(i)
            imported.append(ok)
            for symbol, pairs in crossed_bindings(log, plan["site_dirs"], found).items():
                crossed.setdefault(symbol, []).extend(p for p in pairs if p not in crossed[symbol])
        for c in found:
            c["crossed"] = crossed.get(c["symbol"], [])
        step("definitions of the crossed symbols")
        describe([c for c in found if c["crossed"]])
    _drop_logs(logs)
    step("runtimes, shared copies, static TLS")
    return {
        "loaded": dsos,
        "partial": observed["partial"],
        "runtimes": runtime_copies(dsos),
        "collisions": found,
        "bindings_checked": traced,
        "orders_imported": imported,
        "shared_copies": shared_copies(dsos, plan.get("same_libs") or [], plan["site_dirs"]),
        "static_tls": {
            "objects": [
                [p, n] for p, n in ((p, static_tls(p)) for p in dlopened(observed["startup"], dsos)) if n
            ],
            "reserve": observed["reserve"],
        },
    }


def _shared_trace(trace):
    """(objects mapped, exit status) of an import the import scenario traced at TRACE, the
    objects being None unless it imported everything and exited 0; None if there is none (or
    it timed out, leaving a log cut short)."""
    if not trace:
        return None
    try:
        with open(trace + ".rc") as fh:
            ended = json.load(fh)
        if ended.get("timed_out"):
            return None
        rc = ended.get("rc")
        dsos = None
        if rc == 0 and os.path.exists(trace + ".dsos"):
            with open(trace + ".dsos") as fh:
                dsos = json.load(fh)
    except (OSError, ValueError, AttributeError):
        return None
    if dsos is not None and not (isinstance(dsos, list) and all(isinstance(p, str) for p in dsos)):
        return None
    return dsos, rc


def _log_files(log):
    folder, prefix = os.path.dirname(log), os.path.basename(log) + "."
    try:
        names = files().listdir(folder)
    except OSError:
        return []
    return [os.path.join(folder, n) for n in sorted(names) if n.startswith(prefix)]


def _drop_logs(logs):
    for log, _ok in logs.values():
        for path in _log_files(log):
            files().unlink(path)


def _traced_env(log, base=None):
    """BASE (the probe's own environment by default) with the dynamic linker writing its
    bindings to LOG.PID: LOG's folder is made (private) if missing, earlier logs of that name
    are removed."""
    try:
        os.mkdir(os.path.dirname(log), 0o700)
    except FileExistsError:
        for path in _log_files(log):
            os.unlink(path)
    return dict(os.environ if base is None else base, LD_DEBUG="bindings", LD_DEBUG_OUTPUT=log)


def traced_import(python, modules, timeout, log):
    """Import the modules with the dynamic linker's bindings written to LOG.PID; the exit status."""
    code = "\n".join("import " + m for m in modules)
    return _run_rc([python, *ISOLATED, "-c", code], _traced_env(log), timeout)


def crossed_bindings(log, site_dirs, found):
    """For each colliding symbol, the bindings the dynamic linker made from one wheel's object
    to another wheel's definition (glibc's LD_DEBUG=bindings, read from one traced import's log,
    which is removed). Copies loaded privately (RTLD_LOCAL, as Python loads extensions) resolve
    to themselves and never appear here."""
    wanted = {c["symbol"] for c in found}
    out = {}
    # Only bindings between two wheels' files can cross: the pattern skips every other line
    # (most go to libc and libpython) inside the regex engine, not line by line in Python,
    # which runs emulated in an aarch64 cell. Its paths accept what wheel_relative accepts.
    wheel_path = "(?:%s|\\S*/archive-v0/[^/\\s]+/)\\S*" % "|".join(
        re.escape(d.rstrip("/") + "/") for d in site_dirs
    )
    pattern = re.compile(
        "binding file (%s) \\[\\d+\\] to (%s) \\[\\d+\\]: (?:normal|protected) symbol `([^']+)'"
        % (wheel_path, wheel_path)
    )
    for path in _log_files(log):
        for m in _matches(path, pattern):
            wanter, target, symbol = m.groups()
            if symbol not in wanted:
                continue
            if not (wheel_relative(wanter, site_dirs) and wheel_relative(target, site_dirs)):
                continue
            if _project(wanter, site_dirs) == _project(target, site_dirs):
                continue
            pair = {"wanted_by": wanter, "bound_to": target}
            if pair not in out.setdefault(symbol, []):
                out[symbol].append(pair)
        files().unlink(path)
    return out


def _matches(path, pattern, block=1 << 22):
    """pattern's matches in a text file, read a few MiB at a time (whole lines per block)."""
    with files().open(path, "r", errors="replace") as fh:
        rest = ""
        while True:
            chunk = fh.read(block)
            if not chunk:
                break
            text = rest + chunk
            cut = text.rfind("\n") + 1
            if cut == 0:
                rest = text
                continue
            text, rest = text[:cut], text[cut:]
            for m in pattern.finditer(text):
                yield m
        for m in pattern.finditer(rest):
            yield m


def describe(crossed):
    """What can be read from the files about each crossed symbol, for judging whether the
    crossing can break anything: every definition's binding, type, size and (for data objects
    whose bytes the loader does not rewrite) a digest of its contents; for each binding the
    definition it got ("theirs") and the one it meant ("mine": its own, or that of its own copy
    of the library it was bound to), and whether that copy is byte-identical to the one it got."""
    cache = {"defs": {}, "fixups": {}, "digests": {}}
    for c in crossed:
        c["defs"] = [d for d in (_definition(p, c["symbol"], cache) for p in c["files"]) if d]
        for pair in c["crossed"]:
            own = own_copy(pair["wanted_by"], pair["bound_to"])
            pair["theirs"] = _definition(pair["bound_to"], c["symbol"], cache)
            pair["mine"] = _definition(pair["wanted_by"], c["symbol"], cache)
            if own is not None:
                pair["own_copy"] = own
                pair["identical"] = _digest(own, cache["digests"]) == _digest(
                    pair["bound_to"], cache["digests"]
                )
                pair["mine"] = pair["mine"] or _definition(own, c["symbol"], cache)


def _definition(path, symbol, cache):
    """{file, bind, type, size, contents} of one file's definition of a symbol, or None."""
    if path not in cache["defs"]:
        cache["defs"][path] = definitions(path)
    one = cache["defs"][path].get(symbol)
    if one is None:
        return None
    if one[1] == 1 and path not in cache["fixups"]:
        cache["fixups"][path] = relocated(path)
    return {
        "file": path,
        "bind": one[0],
        "type": {0: "notype", 1: "object", 2: "func", 6: "tls", 10: "ifunc"}[one[1]],
        "size": one[3],
        "contents": contents(path, one, cache["fixups"].get(path)),
    }


def own_copy(wanter, target):
    """The file of the target library's name that the wanting object's own search path (its
    RUNPATH, then its own folder) holds, when that is another file than the target; else None."""
    _wanted, dirs = dynamic(wanter)
    base = os.path.basename(target)
    for d in dirs + [os.path.dirname(wanter)]:
        cand = os.path.join(d, base)
        here = files()
        if here.isfile(cand) and here.realpath(cand) != here.realpath(target):
            return os.path.normpath(cand)
    return None


def _digest(path, cache):
    if path not in cache:
        h = hashlib.sha256()
        with files().open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        cache[path] = h.hexdigest()
    return cache[path]


# -- crash ---------------------------------------------------------------------------------------
HANDLER = r"""
import ctypes, json, os, platform, signal
_libc = ctypes.CDLL(None, use_errno=True)
try:
    _dladdr = _libc.dladdr
except AttributeError:
    _dladdr = ctypes.CDLL("libdl.so.2").dladdr
class _DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]
_PC_OFFSET = {"x86_64": 168, "aarch64": 440}.get(platform.machine())
_HANDLER_T = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
def _where(addr):
    info = _DlInfo()
    if not addr or not _dladdr(ctypes.c_void_p(addr), ctypes.byref(info)):
        return {"address": hex(addr or 0)}
    return {"address": hex(addr), "dso": (info.fname or b"").decode(), "offset": hex(addr - (info.fbase or 0)),
            "symbol": (info.sname or b"").decode() or None,
            "symbol_offset": hex(addr - info.saddr) if info.saddr else None}
def _on_fault(signum, siginfo, ucontext):
    fault = ctypes.c_void_p.from_address(siginfo + 16).value
    pc = ctypes.c_void_p.from_address(ucontext + _PC_OFFSET).value if _PC_OFFSET else None
    record = {"signal": signal.Signals(signum).name, "fault_address": hex(fault or 0), "pc": _where(pc)}
    if pc and signum == signal.SIGILL:  # the instruction's bytes, not past the end of its page
        record["code"] = ctypes.string_at(pc, min(16, 4096 - pc % 4096)).hex()
    os.write(2, ("\n@@WMCRASH@@ " + json.dumps(record) + "\n").encode())
    _libc.signal(signum, ctypes.c_void_p(0))  # SIG_DFL: the faulting instruction kills us again
_handler = _HANDLER_T(_on_fault)
class _Sigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("mask", ctypes.c_ulong * 16), ("flags", ctypes.c_int),
                ("restorer", ctypes.c_void_p)]
for _sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE):
    _act = _Sigaction()
    _act.handler = ctypes.cast(_handler, ctypes.c_void_p).value
    _act.flags = 0x4 | 0x80000000  # SA_SIGINFO | SA_RESETHAND
    _libc.sigaction(_sig, ctypes.byref(_act), None)
"""


# musl gives a thread it starts without an explicit size 128 KiB of stack where glibc gives the
# stack rlimit (usually 8 MiB): raise musl's default before anything runs, and see.
BIG_THREAD_STACKS = r"""
import ctypes
_c = ctypes.CDLL(None)
_attr = ctypes.create_string_buffer(128)
_c.pthread_attr_init(_attr)
_c.pthread_attr_setstacksize(_attr, ctypes.c_size_t(8 << 20))
_c.pthread_setattr_default_np(_attr)
"""


CRASH_LOG = "/tmp/wm-crash/ld"  # in a folder of its own: the runner may read the folder


def cmd_crash(plan):
    python, code, timeout = plan["python"], plan["code"], plan["timeout"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", **EMULATOR_ENV}
    record = {}
    # 1. faulting address -> DSO and nearest symbol; in the same run (glibc), the dynamic
    # linker's bindings, logged as they are made (an import of the stack less per crash: under
    # emulation, half a minute for a scientific stack)
    log = CRASH_LOG
    proc = _run([python, *ISOLATED, "-c", HANDLER + "\n" + code], _traced_env(log, env), timeout)
    for line in proc.splitlines():
        if line.startswith(CRASH_MARK) and "fault" not in record:  # the first fault is the cause
            try:
                fault = json.loads(line[len(CRASH_MARK) :])
            except ValueError:
                continue  # not our handler's (the program printed it): no fault record
            if isinstance(fault, dict):
                record["fault"] = fault
    pc = (record.get("fault") or {}).get("pc") or {}
    if pc.get("dso"):
        pc["real"] = os.path.realpath(pc["dso"])  # the file itself (uv installs symlinks)
    # 1b. on musl: does the crash go away with glibc-sized default thread stacks?
    # (a thread that overflows its stack dies before any handler can run: no fault record)
    if musl_loader() and _run_rc([python, *ISOLATED, "-c", code], env, timeout) != 0:
        rc = _run_rc([python, *ISOLATED, "-c", BIG_THREAD_STACKS + "\n" + code], env, timeout)
        record["thread_stack"] = {"default": "128 KiB", "raised_to": "8 MiB", "exit": rc}
    # 2. a native backtrace when the image has gdb
    gdb = shutil.which("gdb")
    if gdb:
        out = _run(
            [gdb, "-q", "-batch", "-ex", "run", "-ex", "bt 25", "--args", python, *ISOLATED, "-c", code],
            env,
            timeout * 2,
        )
        record["gdb_backtrace"] = [ln for ln in out.splitlines() if ln.startswith("#")][:25]
    # 3. dynamic-linker bindings (glibc, from run 1): which DSO each symbol of interest was bound
    # to; read by the runner on its side for an emulated cell (the log is millions of lines)
    if plan.get("observe_only"):
        record["bindings_log"] = log
    else:
        record["bindings"] = _interposed(log, plan.get("site_dirs", []), plan.get("symbols", []))
    emit({"crash": record})


def _run(argv, env, timeout):
    try:
        proc = subprocess.run(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd="/", timeout=timeout
        )
        return proc.stdout.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        return (exc.output or b"").decode("utf-8", "replace")


def _run_rc(argv, env, timeout):
    try:
        return subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd="/", timeout=timeout
        ).returncode
    except subprocess.TimeoutExpired:
        return None


BINDING = re.compile(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: (?:normal|protected) symbol `([^']+)'")


def _interposed(log_prefix, site_dirs, wanted):
    """Bindings where a wheel's DSO wanted a symbol it defines itself but got another DSO's."""
    out, seen, cache = [], set(), {}
    for path in _log_files(log_prefix):
        for m in _matches(path, BINDING):
            wanter, target, symbol = m.groups()
            if wanter == target or (symbol, wanter, target) in seen:
                continue
            if not any(wanter.startswith(d) for d in site_dirs) and symbol not in wanted:
                continue
            own = cache.get(wanter)
            if own is None:  # each object's symbols are read once (not once per log line)
                own = cache[wanter] = dynsyms(wanter)
            if symbol in own or symbol in wanted:
                seen.add((symbol, wanter, target))
                out.append(
                    {
                        "symbol": symbol,
                        "wanted_by": wanter,
                        "bound_to": target,
                        "defined_by_wanter": symbol in own,
                    }
                )
        files().unlink(path)
    return out[:50]


def main(argv):
    cmd, arg = argv[1], json.loads(argv[2])
    if cmd == "smoke":
        cmd_smoke(arg)
    elif cmd == "trace":
        cmd_trace(arg)
    elif cmd == "analyse":
        cmd_analyse(arg)
    elif cmd == "crash":
        cmd_crash(arg)
    else:
        sys.exit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
