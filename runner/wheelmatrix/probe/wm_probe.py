"""wheelmatrix probe: runs inside a cell's container. Stdlib only; Python 3.6 or newer.

    wm_probe.py install PLAN_JSON   run installer steps, then resolve installed modules
    wm_probe.py run PLAN_JSON       run each check in a fresh interpreter, with a timeout
    wm_probe.py exec PLAN_JSON      run argv commands (command and pytest scenarios)

With "echo": true in the plan, install and exec pass the commands' output through as it comes.

Every result is printed on its own line, prefixed with the marker, as soon as it is known.
"""

import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

MARK = "@@WM@@ "
TAIL = 40
GRACE_S = 5.0


def emit(obj):
    sys.stdout.write(MARK + json.dumps(obj) + "\n")
    sys.stdout.flush()


def tail(data, lines=TAIL):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def signame(rc):
    if rc is None or rc >= 0:
        return None
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return "signal %d" % -rc


def run_one(argv, env, timeout, cwd="/", echo=False):
    """Run argv; on timeout send SIGABRT (faulthandler dumps the stack), then SIGKILL. With
    `echo`, the output is also passed through to our stdout as it comes (a live session)."""
    start = time.time()
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    chunks = []
    reader = None
    if echo:
        reader = threading.Thread(target=_pass_through, args=(proc.stdout, chunks))
        reader.daemon = True
        reader.start()
    timed_out = False
    try:
        out = _finish(proc, reader, timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(proc, signal.SIGABRT)
        try:
            out = _finish(proc, reader, GRACE_S)
        except subprocess.TimeoutExpired:
            _kill(proc, signal.SIGKILL)
            out = _finish(proc, reader, None)
    if reader is not None:
        out = b"".join(chunks)
        if out and not out.endswith(b"\n"):
            sys.stdout.write("\n")  # a record must start a line
            sys.stdout.flush()
    return {
        "rc": proc.returncode,
        "signal": signame(proc.returncode),
        "timed_out": timed_out,
        "tail": tail(out),
        "duration_s": round(time.time() - start, 3),
    }


def _finish(proc, reader, timeout):
    if reader is None:
        return proc.communicate(timeout=timeout)[0]
    proc.wait(timeout=timeout)
    reader.join(timeout=GRACE_S)
    return b""


def _pass_through(stream, chunks):
    fd = stream.fileno()
    while True:
        data = os.read(fd, 65536)
        if not data:
            return
        chunks.append(data)
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _kill(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except OSError:
        pass


def cmd_install(plan):
    env = dict(os.environ)
    env.update(plan.get("env", {}))
    ok = True
    for step in plan["steps"]:
        res = run_one(step["argv"], env, plan.get("timeout", 1800), echo=plan.get("echo", False))
        res["name"] = step["name"]
        res["expect_failure"] = bool(step.get("expect_failure"))
        emit({"step": res})
        if res["rc"] != 0 and not step.get("expect_failure"):
            ok = False
            break
    if ok and plan.get("resolve"):
        r = plan["resolve"]
        # Read the venv's site-packages directly: no extra (possibly emulated) interpreter.
        modules, files, unshipped, digests = resolve(r["site_packages"], r["dists"])
        emit(
            {
                "resolved": modules,
                "files": files,
                "unshipped_modules": unshipped,
                "installed": installed(r["site_packages"]),
                "installed_set": installed_set(r["site_packages"]),
                "wheel_tags": wheel_tags(r["site_packages"], r["dists"]),
                "elf_digests": digests,
                "elf_real": {p: os.path.realpath(p) for p in digests if os.path.islink(p)},
                "commands": commands_of(r["site_packages"], r["dists"], r.get("venv", "/tmp/wm-venv")),
            }
        )


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def modules_of(dist_info):
    """Top-level modules of an installed distribution: what top_level.txt lists and RECORD
    has files for (a listed name with no file, like pyarrow 19.0.1's `__dummy__`, is a build
    artefact: it is noted, not imported), else what RECORD shows."""
    shipped = shipped_modules(dist_info)
    top = os.path.join(dist_info, "top_level.txt")
    if os.path.exists(top):
        with open(top) as fh:
            found = [ln.strip().split("/")[0] for ln in fh if ln.strip()]
        found = [m for m in found if IDENT.match(m)]
        kept = [m for m in found if m in shipped]
        if kept:
            return expand_namespaces(sorted(set(kept)), dist_info), sorted(set(found) - set(kept))
        if found and not shipped:
            return [], sorted(set(found))
    return expand_namespaces(sorted(shipped), dist_info), []


def expand_namespaces(tops, dist_info, limit=8):
    """A PEP 420 namespace top (no __init__.py: protobuf's `google`) is replaced by the
    shallowest packages and modules under it (`google.protobuf`), whose import runs the
    wheel's code; the host's reader (inputs/wheels.py) picks the same names."""
    paths = [p for p, _digest in record_entries(dist_info)]
    packages = set(p.rpartition("/")[0] for p in paths if p.rpartition("/")[2].startswith("__init__."))
    out = []
    for top in tops:
        if top in packages:
            out.append(top)
            continue
        members = []
        for path in sorted(paths):
            parts = path.split("/")
            if parts[0] != top or len(parts) < 2 or SHARED_LIBRARY.match(parts[-1]):
                continue
            for i in range(1, len(parts)):
                last = i == len(parts) - 1
                name = parts[i].split(".", 1)[0] if last else parts[i]
                if not IDENT.match(name):
                    break
                dotted = ".".join(parts[:i] + [name])
                if (
                    last
                    and parts[i].endswith((".py", ".so"))
                    or (not last and "/".join(parts[: i + 1]) in packages)
                ):
                    if dotted not in members:
                        members.append(dotted)
                    break
        out.extend(members[:limit] or [top])
    return out


SHARED_LIBRARY = re.compile(r"^lib[^.]*\.so$")  # libfoo.so: loaded by ctypes, not imported


def shipped_modules(dist_info):
    """Top-level names with Python code (packages, namespace packages, modules); a directory
    of only data or shared libraries (libfoo.so) has none."""
    out = set()
    for path, _digest in record_entries(dist_info):
        head, sep, _rest = path.partition("/")
        if head.endswith((".dist-info", ".data", ".libs")) or head.startswith(".."):
            continue
        if SHARED_LIBRARY.match(path.rpartition("/")[2]):
            continue
        if sep and path.endswith((".py", ".so", ".pyc")) and IDENT.match(head):
            out.add(head)
        elif not sep and path.endswith((".py", ".so")):
            stem = head.split(".", 1)[0]
            if IDENT.match(stem):
                out.add(stem)
    return out


def resolve(site_dirs, dists):
    """Each wanted distribution (canonical name) -> its top-level modules and its ELF files;
    names top_level.txt lists without files are returned apart (`unshipped`), and each ELF
    file's RECORD digest (`digests`, the host's scan-cache key)."""
    wanted = {canonical(d) for d in dists}
    modules, files, unshipped, elf_digests = {}, {}, {}, {}
    for d in site_dirs:
        if not os.path.isdir(d):
            continue
        for entry in os.listdir(d):
            if not entry.endswith(".dist-info"):
                continue
            name = canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
            if name in wanted:
                mods, noted = modules_of(os.path.join(d, entry))
                modules[name] = mods
                digests = dict(record_entries(os.path.join(d, entry)))
                if noted:
                    unshipped[name] = noted
                files[name] = elf_files(d, os.path.join(d, entry))
                for full in files[name]:
                    rel = os.path.relpath(full, d)
                    if digests.get(rel):
                        elf_digests[full] = digests[rel]
    return modules, files, unshipped, elf_digests


@functools.lru_cache(maxsize=None)
def record_entries(dist_info):
    """(path relative to site-packages, sha256 digest or None) of each RECORD line; read once
    per distribution however many analyses need it."""
    out = []
    try:
        with open(os.path.join(dist_info, "RECORD"), encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if not line:
                    continue
                if line.startswith('"'):
                    end = line.find('",', 1)
                    path, rest = line[1:end], line[end + 2 :]
                else:
                    path, _, rest = line.partition(",")
                digest = rest.split(",", 1)[0]
                if "./" in path or "//" in path:
                    path = os.path.normpath(path)
                out.append((path, digest or None))
    except OSError:
        pass
    return tuple(out)


def file_digest(path):
    import base64
    import hashlib

    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode()


LIB_NAME = re.compile(r"^lib.*\.so(\.[0-9.]+)?$|^lib.*-[0-9a-f]{8}\.so")


def installed_set(site_dirs):
    """Across every installed distribution: paths written by more than one (with whether their
    contents differ and whose copy is on disk), and bundled libraries with the same file name
    in more than one distribution (whichever loads first is shared by both)."""
    owners = {}  # path -> [(dist, digest)]
    libs = {}  # basename -> [(dist, path, digest)]
    site, seen = None, set()
    for d in site_dirs:
        if not os.path.isdir(d) or os.path.realpath(d) in seen:
            continue
        seen.add(os.path.realpath(d))
        site = site or d
        for entry in sorted(os.listdir(d)):
            if not entry.endswith(".dist-info"):
                continue
            dist = canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
            for path, digest in record_entries(os.path.join(d, entry)):
                if path.startswith("..") or ".dist-info" in path:
                    continue
                owners.setdefault(path, []).append((dist, digest))
                base = path.rpartition("/")[2]
                if (
                    base.startswith("lib")
                    and ".so" in base
                    and LIB_NAME.match(base)
                    and "cpython-" not in base
                ):
                    libs.setdefault(base, []).append((dist, path, digest))
    overlaps = []
    for path, who in sorted(item for item in owners.items() if len(item[1]) > 1):
        dists = sorted({w for w, _ in who})
        if len(dists) < 2:
            continue
        digests = {dg for _, dg in who if dg}
        on_disk = file_digest(os.path.join(site, path)) if site and len(digests) > 1 else None
        winner = [w for w, dg in who if on_disk and dg == on_disk]
        overlaps.append(
            {"path": path, "dists": dists, "differ": len(digests) > 1, "on_disk_from": winner[:1]}
        )
    same_libs = []
    for base, copies in sorted(libs.items()):
        dists = sorted({c[0] for c in copies})
        if len(dists) < 2:
            continue
        digests = {c[2] for c in copies if c[2]}
        same_libs.append({"name": base, "copies": [[c[0], c[1]] for c in copies], "differ": len(digests) > 1})
    return {"overlaps": overlaps[:200], "overlap_count": len(overlaps), "same_libs": same_libs[:100]}


def console_scripts(dist_info):
    names, section = [], None
    try:
        with open(os.path.join(dist_info, "entry_points.txt"), encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("["):
                    section = line.strip("[]").strip()
                elif section == "console_scripts" and "=" in line:
                    names.append(line.split("=", 1)[0].strip())
    except OSError:
        pass
    return names


def is_elf_executable(path):
    try:
        if not os.access(path, os.X_OK) or not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def commands_of(site_dirs, dists, venv):
    """Each wanted distribution -> its commands: console scripts, scripts from the wheel's
    .data/scripts (installed into the venv's bin/) and ELF executables in its package folders."""
    wanted = {canonical(d) for d in dists}
    out, seen = {}, set()
    for d in site_dirs:
        if not os.path.isdir(d) or os.path.realpath(d) in seen:
            continue
        seen.add(os.path.realpath(d))
        for entry in os.listdir(d):
            if not entry.endswith(".dist-info"):
                continue
            name = canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
            if name not in wanted:
                continue
            info = os.path.join(d, entry)
            found = [os.path.join(venv, "bin", n) for n in console_scripts(info)]
            for path, _digest in record_entries(info):
                full = os.path.normpath(os.path.join(d, path))
                if (
                    path.startswith("..")
                    and "/bin/" in path
                    or not path.startswith("..")
                    and ".so" not in os.path.basename(path)
                    and is_elf_executable(full)
                ):
                    found.append(full)
            out[name] = sorted({p for p in found if os.path.exists(p)})
    return out


def wheel_tags(site_dirs, dists):
    """Each wanted distribution -> the tags of the wheel it was installed from (its WHEEL file)."""
    wanted = {canonical(d) for d in dists}
    out = {}
    for d in site_dirs:
        if not os.path.isdir(d):
            continue
        for entry in os.listdir(d):
            name = (
                canonical(entry[: -len(".dist-info")].rsplit("-", 1)[0])
                if entry.endswith(".dist-info")
                else None
            )
            if name not in wanted:
                continue
            tags = []
            try:
                with open(os.path.join(d, entry, "WHEEL"), encoding="utf-8") as fh:
                    tags = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("Tag:")]
            except OSError:
                pass
            out[name] = tags
    return out


def installed(site_dirs):
    """name==version of every distribution in the venv, from the .dist-info directory names."""
    out = set()
    for d in site_dirs:
        if not os.path.isdir(d):
            continue
        for entry in os.listdir(d):
            if entry.endswith(".dist-info") and "-" in entry:
                name, version = entry[: -len(".dist-info")].rsplit("-", 1)
                out.add("%s==%s" % (canonical(name), version))
    return sorted(out)


def elf_files(site_dir, dist_info):
    """ELF files a distribution installed: libraries (`.so` in the name), its scripts (in the
    venv's bin/, from .data/scripts or .data/data) and executables in its package folders
    (`pkg/bin/tool`): all count for the glibc floor of the wheel."""
    out = []
    for path, _digest in record_entries(dist_info):
        script = path.startswith("..") and "/bin/" in path  # .data/scripts, in the venv's bin/
        full = os.path.normpath(os.path.join(site_dir, path))
        if ".dist-info/" in path or (
            ".so" not in os.path.basename(path) and not script and not is_elf_executable(full)
        ):
            continue
        try:
            with open(full, "rb") as elf:
                if elf.read(4) == b"\x7fELF":
                    out.append(full)
        except OSError:
            continue
    return sorted(out)


def cmd_run(plan):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(plan.get("env", {}))
    for check in plan["checks"]:
        argv = [plan["python"], "-I", "-X", "faulthandler", "-c", check["code"]]
        res = run_one(argv, env, plan["timeout"])
        res["id"] = check["id"]
        emit({"check": res})


def check_env(plan):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.update(plan.get("env", {}))
    return env


def cmd_exec(plan):
    """Run argv commands (command and pytest scenarios); report failing pytest node ids."""
    env = check_env(plan)
    for check in plan["checks"]:
        res = run_one(
            check["argv"], env, plan["timeout"], cwd=check.get("cwd", "/tmp"), echo=plan.get("echo", False)
        )
        res["id"] = check["id"]
        report = check.get("junit")
        if report:
            res["tests"] = pytest_cases(report)
        emit({"check": res})


def pytest_cases(path):
    """Outcome of each test case of a pytest JUnit XML file (stdlib only)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    cases = []
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = child.get("message") or ""
                if not message:
                    lines = (child.text or "").strip().splitlines()
                    message = lines[-1] if lines else ""
                break
        cases.append(
            {
                "classname": case.get("classname", ""),
                "name": case.get("name", ""),
                "file": case.get("file", ""),
                "outcome": outcome,
                "message": message[:500],
            }
        )
    return cases


def read_first(paths):
    for path in paths:
        try:
            with open(path) as fh:
                return fh.read()
        except OSError:
            continue
    return None


def cmd_memory(plan):
    """The container's OOM-kill count and memory limit (cgroup v1 or v2)."""
    events = read_first(["/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"]) or ""
    kills = None
    for line in events.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "oom_kill":
            kills = int(parts[1])
    limit = (
        read_first(["/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"]) or ""
    ).strip()
    emit({"memory": {"oom_kills": kills, "limit": int(limit) if limit.isdigit() else None}})


def main(argv):
    cmd, arg = argv[1], json.loads(argv[2])
    if cmd == "install":
        cmd_install(arg)
    elif cmd == "run":
        cmd_run(arg)
    elif cmd == "exec":
        cmd_exec(arg)
    elif cmd == "memory":
        cmd_memory(arg)
    else:
        sys.exit("unknown command %r" % cmd)


if __name__ == "__main__":
    main(sys.argv)
