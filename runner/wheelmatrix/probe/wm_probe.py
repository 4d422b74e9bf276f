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
# The runner's secret for this call (wheelmatrix/backends/probe_stream.py): every record line
# carries it, so a line the program under test prints is never taken for one. Removed from our
# environment before anything is started, so nothing we run sees it.
TOKEN = os.environ.pop("WM_PROBE_TOKEN", "")
TAIL = 40
GRACE_S = 5.0


def emit(obj):
    sys.stdout.write(MARK + (TOKEN + " " if TOKEN else "") + json.dumps(obj) + "\n")
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
    resolve_plan = plan.get("resolve") or {}
    for step in plan["steps"]:
        argv = list(step["argv"])
        report = step.get("pip_report")
        if report and pip_has_report(resolve_plan.get("site_packages") or ()):
            argv += ["--report", report]
        res = run_one(argv, env, plan.get("timeout", 1800), echo=plan.get("echo", False))
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
                "installed_wheels": picked_wheels(
                    r["site_packages"], uv_cache=r.get("uv_cache"), pip_report=r.get("pip_report")
                ),
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


def dist_infos(site_dirs):
    """(canonical name, version, path) of every .dist-info directory, each site dir once."""
    out, seen = [], set()
    for d in site_dirs:
        if not os.path.isdir(d) or os.path.realpath(d) in seen:
            continue
        seen.add(os.path.realpath(d))
        for entry in sorted(os.listdir(d)):
            if entry.endswith(".dist-info") and "-" in entry:
                name, version = entry[: -len(".dist-info")].rsplit("-", 1)
                out.append((canonical(name), version, os.path.join(d, entry)))
    return out


def pip_has_report(site_dirs):
    """Whether the venv's pip knows `install --report` (pip 22.2 and newer)."""
    for name, version, _path in dist_infos(site_dirs):
        if name == "pip":
            nums = re.findall(r"\d+", version)[:2]
            return tuple(int(n) for n in nums) >= (22, 2)
    return False


def wheel_file_parts(filename):
    """(canonical name, version, build, expanded tag set, compressed tag) of a wheel file name,
    or None when it is not one."""
    if not filename.endswith(".whl"):
        return None
    parts = filename[: -len(".whl")].split("-")
    if len(parts) not in (5, 6):
        return None
    build = parts[2] if len(parts) == 6 else ""
    py, abi, plat = parts[-3:]
    tags = {"%s-%s-%s" % (x, y, z) for x in py.split(".") for y in abi.split(".") for z in plat.split(".")}
    return canonical(parts[0]), parts[1], build, tags, "%s-%s-%s" % (py, abi, plat)


def wheel_info(dist_info):
    """(tags, build) of an installed distribution's WHEEL file."""
    tags, build = [], ""
    try:
        with open(os.path.join(dist_info, "WHEEL"), encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key == "Tag":
                    tags.append(value.strip())
                elif key == "Build":
                    build = value.strip()
    except OSError:
        pass
    return tags, build


def compress_tags(tags):
    """A wheel file name's tag part from expanded tags (each part's values sorted)."""
    triples = [t.split("-") for t in tags if t.count("-") == 2]
    if not triples:
        return ""
    return "-".join(".".join(sorted({t[i] for t in triples})) for i in range(3))


def read_msgpack(data, pos=0):
    """One MessagePack value at `pos` -> (value, next position); the subset uv's cache uses."""
    b = data[pos]
    pos += 1
    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 0x100, pos
    if 0x80 <= b <= 0x8F or b in (0xDE, 0xDF):
        n, pos = _msgpack_len(data, pos, b, 0x80)
        out = {}
        for _ in range(n):
            k, pos = read_msgpack(data, pos)
            v, pos = read_msgpack(data, pos)
            out[k if not isinstance(k, (list, dict)) else repr(k)] = v
        return out, pos
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        n, pos = _msgpack_len(data, pos, b, 0x90)
        out = []
        for _ in range(n):
            v, pos = read_msgpack(data, pos)
            out.append(v)
        return out, pos
    if 0xA0 <= b <= 0xBF or b in (0xD9, 0xDA, 0xDB, 0xC4, 0xC5, 0xC6):
        n, pos = _msgpack_len(data, pos, b, 0xA0)
        raw = data[pos : pos + n]
        if len(raw) < n:
            raise ValueError("truncated")
        return (raw if b in (0xC4, 0xC5, 0xC6) else raw.decode("utf-8", "replace")), pos + n
    if b == 0xC0:
        return None, pos
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    sizes = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xCA: 4, 0xCB: 8}
    if b in sizes:
        n = sizes[b]
        return int.from_bytes(data[pos : pos + n], "big", signed=b >= 0xD0), pos + n
    raise ValueError("msgpack type 0x%02x" % b)


def _msgpack_len(data, pos, b, fix):
    if fix <= b <= fix + (0x1F if fix == 0xA0 else 0x0F):
        return b - fix, pos
    width = {0xD9: 1, 0xC4: 1, 0xDA: 2, 0xC5: 2, 0xDC: 2, 0xDE: 2}.get(b, 4)
    return int.from_bytes(data[pos : pos + width], "big"), pos + width


def uv_cached_wheels(uv_cache, names):
    """The wheels uv's cache knows for the canonical `names`: {name: [(archive id, file name,
    sha256 or None)]}, read from each cached wheel's entry (`wheels-v*/.../NAME/*.http`, which
    starts with the archive id, the file's hashes and its name)."""
    out = {}
    if not uv_cache or not os.path.isdir(uv_cache):
        return out
    for top in sorted(os.listdir(uv_cache)):
        if not top.startswith("wheels-v"):
            continue
        for root, dirs, files in os.walk(os.path.join(uv_cache, top)):
            base = os.path.basename(root)
            if base in names:
                dirs[:] = []
                for f in files:
                    if f.endswith(".http"):
                        entry = uv_entry(os.path.join(root, f))
                        if entry:
                            out.setdefault(base, []).append(entry)
            elif root.count(os.sep) - uv_cache.rstrip(os.sep).count(os.sep) > 4:
                dirs[:] = []
    return out


def uv_entry(path):
    """(archive id, file name, sha256 or None) from one uv wheel cache entry, or None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        value, _ = read_msgpack(head)
    except (OSError, ValueError, IndexError):
        return None
    if not isinstance(value, list) or len(value) < 3:
        return None
    archive, hashes, filename = value[0], value[1], value[2]
    if not isinstance(archive, str) or not isinstance(filename, str) or not filename.endswith(".whl"):
        return None
    sha = None
    for h in hashes if isinstance(hashes, list) else []:
        if isinstance(h, dict):
            for k, v in h.items():
                if str(k).lower() == "sha256" and isinstance(v, str):
                    sha = v.lower()
    return archive, original_name(path, filename), sha


def original_name(entry, filename):
    """The wheel's file name as the index spells it (uv's entry holds it normalized, lower
    case): from the URL in the entry's sibling metadata file (`.msgpack`), when it has one."""
    try:
        with open(entry[: -len(".http")] + ".msgpack", "rb") as fh:
            data = fh.read(65536)
    except OSError:
        return filename
    for m in re.finditer(rb"/([A-Za-z0-9_.+!%-]+\.whl)", data):
        name = unquote(m.group(1).decode("ascii", "replace"))
        if name.lower() == filename.lower():
            return name
    return filename


def pip_report_files(path):
    """Canonical name -> (file name, sha256 or None) from a `pip install --report` file."""
    out = {}
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return out
    for item in doc.get("install") or []:
        meta = item.get("metadata") or {}
        info = item.get("download_info") or {}
        url = str(info.get("url") or "")
        archive = info.get("archive_info") or {}
        sha = (archive.get("hashes") or {}).get("sha256")
        if not sha and str(archive.get("hash", "")).startswith("sha256="):
            sha = archive["hash"][len("sha256=") :]
        name = url.split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if meta.get("name") and name.endswith(".whl"):
            out[canonical(meta["name"])] = (unquote(name), sha)
    return out


def unquote(text):
    try:
        from urllib.parse import unquote as _unquote
    except ImportError:  # pragma: no cover
        return text
    return _unquote(text)


def direct_url_file(dist_info):
    """The wheel file name and sha256 (or None) of a distribution installed from a file or URL
    (its direct_url.json), or None."""
    try:
        with open(os.path.join(dist_info, "direct_url.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    url = str(doc.get("url") or "").split("#", 1)[0]
    name = unquote(url.rstrip("/").rsplit("/", 1)[-1])
    if not name.endswith(".whl"):
        return None
    archive = doc.get("archive_info") or {}
    sha = (archive.get("hashes") or {}).get("sha256")
    if not sha and str(archive.get("hash", "")).startswith("sha256="):
        sha = archive["hash"][len("sha256=") :]
    return name, sha


def uv_archive_id(dist_info):
    """The uv cache archive a distribution was linked from (symlink or hardlink-free installs
    point into `archive-v*/ID/`), or None when its files are copies."""
    for probe in ["METADATA"] + [p for p, _ in record_entries(dist_info)[:20]]:
        full = os.path.join(dist_info, probe) if probe == "METADATA" else None
        if full is None:
            full = os.path.normpath(os.path.join(os.path.dirname(dist_info), probe))
        real = os.path.realpath(full)
        m = re.search(r"/archive-v\d+/([^/]+)/", real)
        if m:
            return m.group(1)
    return None


def picked_wheels(site_dirs, uv_cache=None, pip_report=None):
    """Each installed distribution -> the wheel file the installer used: {"file", "tag",
    "sha256", "source"}; where the installer left no hash, "sha256" is null and "no_hash" says
    why. Sources: the distribution's direct_url.json (a local file), pip's --report, uv's cache
    entry for the wheel (by the archive the files link to, else by name, version and tags);
    failing all, the file name is rebuilt from the WHEEL file ("source": "dist-info")."""
    dists = dist_infos(site_dirs)
    reported = pip_report_files(pip_report) if pip_report else {}
    cached = uv_cached_wheels(uv_cache, {n for n, _v, _p in dists}) if uv_cache else {}
    out = {}
    for name, version, path in dists:
        tags, build = wheel_info(path)
        got = pick_one(name, version, path, tags, build, reported, cached)
        parts = wheel_file_parts(got["file"]) if got.get("file") else None
        got["tag"] = parts[4] if parts else compress_tags(tags)
        out[name] = got
    return out


def pick_one(name, version, path, tags, build, reported, cached):
    direct = direct_url_file(path)
    if direct:
        got = {"file": direct[0], "sha256": direct[1], "source": "local-file"}
        if not direct[1]:
            got["no_hash"] = "installed from a file; the installer recorded no hash of it"
        return got
    if name in reported:
        file, sha = reported[name]
        got = {"file": file, "sha256": sha, "source": "pip-report"}
        if not sha:
            got["no_hash"] = "pip's report has no sha256 for it"
        return got
    want = set(tags)
    fits = []
    for archive, file, sha in cached.get(name, []):
        parts = wheel_file_parts(file)
        if parts and parts[1] == version and parts[2] == build and parts[3] == want:
            fits.append((archive, file, sha))
    linked = uv_archive_id(path)
    exact = [f for f in fits if f[0] == linked]
    if exact or len({(f[1], f[2]) for f in fits}) == 1:
        _archive, file, sha = (exact or fits)[0]
        got = {"file": file, "sha256": sha, "source": "uv-cache"}
        if not sha:
            got["no_hash"] = "uv's cache entry for it has no sha256"
        return got
    rebuilt = "%s-%s%s-%s.whl" % (
        os.path.basename(path)[: -len(".dist-info")].rsplit("-", 1)[0],
        version,
        "-" + build if build else "",
        compress_tags(tags),
    )
    if fits:
        why = "uv's cache holds %d wheels that fit its tags and none is linked" % len(fits)
    elif cached or reported:
        why = "the installer left no record of the file (not in its report or cache)"
    else:
        why = "the installer left no record of the file"
    return {"file": rebuilt, "sha256": None, "source": "dist-info", "no_hash": why}


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


# Checks compile what they import once per cell: the first check that imports a module writes
# its bytecode here (outside site-packages, which the check user cannot write) and the later
# checks read it, instead of compiling the whole stack again in every check (about a minute a
# check for scikit-learn + scipy under emulation). Compiling everything at install instead
# took minutes more under emulation (every test module of scipy).
PYCACHE = "/tmp/wm-pycache-%d" % os.getuid()  # per user: whoever writes it first owns it


def cmd_run(plan):
    env = check_env(plan)
    checks = plan["checks"]
    workers = max(1, min(int(plan.get("workers") or 1), len(checks)))
    if workers == 1:
        for check in checks:
            emit({"check": run_check(plan, env, check)})
        return
    # A few at a time (cores the run leaves idle); a check that does not pass among the others
    # is run again alone, and that run is its result: sharing the cell's cores and memory must
    # never be what fails a check.
    import concurrent.futures  # only here: every probe start pays for what it imports

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [(check, pool.submit(run_check, plan, env, check)) for check in checks]
        again = []
        for check, future in futures:
            res = future.result()
            if res["rc"] == 0 and not res["timed_out"]:
                emit({"check": res})
            else:
                again.append(check)
    for check in again:
        emit({"check": run_check(plan, env, check)})


def run_check(plan, env, check):
    """One import check in a fresh interpreter: its record."""
    # -I ignores PYTHON* variables: the cache is given with -X (ignored before 3.8)
    argv = [
        plan["python"],
        "-I",
        "-X",
        "faulthandler",
        "-X",
        "pycache_prefix=" + PYCACHE,
        "-c",
        check["code"],
    ]
    trace = check.get("trace")
    if trace:
        argv[-1] += TRACE_TAIL % json.dumps(trace + ".dsos")
        res = run_one(argv, traced_env(env, trace), plan["timeout"])
        with open(trace + ".rc", "w") as fh:
            json.dump({"rc": res["rc"], "timed_out": res["timed_out"]}, fh)
    else:
        res = run_one(argv, env, plan["timeout"])
    res["id"] = check["id"]
    return res


# A traced check (for the symbols scenario, which would import the same modules in the same
# order again): the dynamic linker writes its bindings to TRACE.ld.PID as it runs, and once
# everything is imported the check lists the shared objects mapped in it to TRACE.dsos.
TRACE_TAIL = """
def _wm_trace(out):
    import json
    paths = []
    with open('/proc/self/maps') as fh:
        for line in fh:
            parts = line.split(None, 5)
            if len(parts) == 6 and '.so' in parts[5] and parts[5].strip() not in paths:
                paths.append(parts[5].strip())
    with open(out + '.part', 'w') as fh:
        json.dump(paths, fh)
    import os
    os.rename(out + '.part', out)
_wm_trace(%s)
del _wm_trace
"""


def traced_env(env, trace):
    """ENV with the dynamic linker's bindings going to TRACE.ld.PID; what an earlier run of this
    trace left is removed first (glibc appends to a log; musl ignores LD_DEBUG)."""
    folder, stem = os.path.dirname(trace), os.path.basename(trace) + "."
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:  # an earlier check's, or one running alongside
        pass
    for name in os.listdir(folder):
        if name.startswith(stem):
            os.unlink(os.path.join(folder, name))
    return dict(env, LD_DEBUG="bindings", LD_DEBUG_OUTPUT=trace + ".ld")


def emulator_env():
    """The QEMU settings the runner gave this process (an emulated cell): kept in every
    environment the probe builds, since each process's emulator reads them as it starts."""
    return {k: v for k, v in os.environ.items() if k == "QEMU_CPU"}


def check_env(plan):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPYCACHEPREFIX": PYCACHE,
    }
    env.update(emulator_env())
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
