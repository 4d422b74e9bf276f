"""A run on a Docker-API engine: containers (created, exec'd into, copied into, removed), the
images its cells use, labels and reaping. What a cell does inside its container is the cell
flow's business (wheelmatrix/cell/flow.py), driven from run/engines.py through the protocol.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import posixpath
import re
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests
from docker.types import Mount

from wheelmatrix.backends import images
from wheelmatrix.backends.base import EngineDown, EngineOptions, Log, Sandbox
from wheelmatrix.backends.docker import images as prepare_images
from wheelmatrix.backends.docker.connection import DockerConnection
from wheelmatrix.backends.layout import CA_BUNDLE, PROBE, PROBE_DIR, QEMU_BIN, UV_CACHE, WHEELS_DIR, WM_ROOT
from wheelmatrix.backends.native_python import NativePython, native_python
from wheelmatrix.backends.probe_stream import TOKEN_ENV, new_token, split_output
from wheelmatrix.config.catalog import Distro
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.fsutil import pid_alive
from wheelmatrix.host import ca_bundle, cache_dir, host_arch, uv_binary
from wheelmatrix.matrix.cells import Cell
from wheelmatrix.probe import PROBE_DIR as PROBE_DIR_HOST
from wheelmatrix.scan.cpu import qemu_static

__all__ = ["DockerEngine", "DockerSandbox", "EngineDown"]

LABEL_RUN = "org.wheelmatrix.run"
LABEL_PID = "org.wheelmatrix.pid"
LABEL_HOST = "org.wheelmatrix.host"
LABEL_CELL = "org.wheelmatrix.cell.flow"
NOBODY = "65534:65534"


_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
)


class DockerEngine:
    def __init__(
        self, connection: DockerConnection, options: EngineOptions, run_id: str, *, remote: bool | None = None
    ) -> None:
        self.connection = connection
        self.client = connection.client
        self.url = connection.url
        # An engine reached over the network shares no filesystem with the runner: nothing is
        # bind-mounted; the uv binary and the installer cache live in named volumes of that
        # engine, and the probe, CA bundle, wheels and --find-links reach each container as an
        # archive through the engine API.
        self.remote = connection.remote if remote is None else remote
        self._volumes: dict[str, str] = {}
        self._removals: list[threading.Thread] = []
        # Podman sets the open-files and process limits of each container to its defaults, above
        # its own service's limits on many hosts, which fails with every capability dropped
        # ("setrlimit RLIMIT_NOFILE: Operation not permitted"); Docker gives containers the
        # engine's own limits. Podman gets explicit, modest ones.
        self.ulimits = _podman_ulimits() if connection.name.startswith("podman") else None
        self.options = options
        self.run_id = run_id
        self._lock = threading.Lock()
        self._containers: dict[str, Any] = {}
        self._closed = False
        self._uv: dict[str, Path] = {}
        self._ca = ca_bundle()
        self._uv_cache = cache_dir() / "uv-cache"
        self._uv_cache.mkdir(exist_ok=True)
        self._uv_cache.chmod(0o755)  # package code runs as nobody: it must not write the shared cache
        self.image_ids: dict[str, str] = {}
        self.engine = connection.name
        self._emulator: dict[str, dict[str, str]] = {}  # arch -> QEMU settings its cells get
        self._native: dict[str, tuple[str, ...]] = {}  # arch -> how its cells start a probe natively

    # -- emulation -----------------------------------------------------------------------------
    def emulator_env(self, sandbox: DockerSandbox) -> dict[str, str]:
        """QEMU user-emulation settings for the processes of an emulated cell of the default CPU,
        checked once per arch in the first such cell (a setting this engine's QEMU lacks would
        stop every process: then none).

        aarch64: QEMU's default CPU ("max") computes pointer authentication codes with the
        architected QARMA5 algorithm, in software, on every signed return. Distributions now
        build with branch protection (Debian 13's Python signs every function), and there it
        made the interpreter 17x slower than Debian 12's (a loop of 3 million additions 8.8 s
        against 0.5 s). `pauth-impdef` keeps the same CPU and features (pointer authentication
        included) with an implementation-defined algorithm, as real CPUs may have: the codes
        differ, what a correct program does does not (8x faster here)."""
        arch = sandbox.cell.arch
        wanted = FAST_EMULATION.get(arch)
        if wanted is None:
            return {}

        def check() -> dict[str, str]:
            try:
                rc = sandbox.container.exec_run(["/bin/true"], environment=wanted, user=NOBODY).exit_code
            except docker.errors.DockerException:
                rc = None
            return wanted if rc == 0 else {}

        return dict(_once_per_arch(self._lock, self._emulator, arch, check))

    def _native_python(self, cell: Cell) -> NativePython | None:
        """The runner's interpreter, packed, for a cell of a foreign arch on a local engine."""
        if self.remote or cell.arch == host_arch():
            return None
        return native_python()

    def native_probe(self, sandbox: DockerSandbox) -> tuple[str, ...]:
        """How a cell of a foreign arch starts a probe at native speed (native_python.py), or
        () to start it with the cell's own, emulated, interpreter. Checked once per arch in a
        real cell: the probes' modules must import there."""
        packed = self._native_python(sandbox.cell)
        if packed is None:
            return ()
        code = (  # the probes' modules, those they import later, and a process started
            f"import sys; sys.path.insert(0, {PROBE_DIR!r}); import wm_probe, wm_symbols\n"
            "import base64, concurrent.futures, hashlib, json, subprocess, threading\n"
            "import urllib.parse, xml.etree.ElementTree\n"
            "t = threading.Thread(target=subprocess.run, args=(['/bin/true'],))\n"
            "t.start(); t.join(); print('wm-ok')"
        )

        def check() -> tuple[str, ...]:
            try:
                got = sandbox.container.exec_run([*packed.argv(), "-I", "-S", "-c", code], user=NOBODY)
                ok = got.exit_code == 0 and b"wm-ok" in (got.output or b"")
            except docker.errors.DockerException:
                ok = False
            return packed.argv() if ok else ()

        answer: tuple[str, ...] = _once_per_arch(self._lock, self._native, sandbox.cell.arch, check)
        return answer

    # -- images --------------------------------------------------------------------------------
    def prepare_image(self, distro: Distro, arch: str, log: Log) -> str:
        try:
            tag = prepare_images.prepare(self.client, distro, arch, log, self.options.registry_mirror)
            self.register_image(tag, distro, arch)
        except _CONNECTION_ERRORS as exc:
            raise EngineDown(f"{self.engine}: {type(exc).__name__}") from exc
        return tag

    def register_image(self, tag: str, distro: Distro, arch: str) -> None:
        """The image is on this engine: note its id; fetch the uv its cells mount."""
        image_id = self.client.images.get(tag).id
        with self._lock:
            self.image_ids[tag] = image_id
        if self.options.installer == "uv" and distro.supports_uv:
            with self._lock:
                if arch not in self._uv:
                    self._uv[arch] = uv_binary(_uv_arch(arch))

    def use_image(self, ref: str) -> bool:
        try:
            image_id = self.client.images.get(ref).id
        except docker.errors.ImageNotFound:
            return False
        with self._lock:
            self.image_ids[ref] = image_id
        return True

    def image_id(self, tag: str) -> str:
        with self._lock:
            return self.image_ids.get(tag, "")

    # -- several engines -----------------------------------------------------------------------
    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def has_image(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
            return True
        except docker.errors.ImageNotFound:
            return False
        except _CONNECTION_ERRORS as exc:
            raise EngineDown(f"{self.engine}: {type(exc).__name__}") from exc

    def save_image(self, tag: str) -> Iterable[bytes]:
        return self.connection.save_image(tag)

    def load_image(self, chunks: Iterable[bytes]) -> None:
        try:
            self.client.images.load(b"".join(chunks))
        except _CONNECTION_ERRORS as exc:
            raise EngineDown(f"{self.engine}: {type(exc).__name__}") from exc

    # -- cleanup -------------------------------------------------------------------------------
    def _labelled(self, label: str) -> list[dict[str, Any]]:
        """Containers with `label`, from one list call of the engine API.

        (The SDK's `containers.list` inspects each container after listing it, which races
        with other runs removing theirs: a container gone in between raised NotFound.)"""
        found: list[dict[str, Any]] = self.client.api.containers(all=True, filters={"label": label})
        return found

    def _remove_id(self, container_id: str) -> None:
        _remove_id(self.client, container_id)

    def reap_stale(self) -> int:
        """Remove containers left by runners on this host that are no longer alive."""
        removed = 0
        host = socket.gethostname()
        for c in self._labelled(f"{images.LABEL_MANAGED}=true"):
            labels = c.get("Labels") or {}
            if labels.get(LABEL_HOST) != host or labels.get(LABEL_RUN) == self.run_id:
                continue
            pid = int(labels.get(LABEL_PID, "0") or 0)
            if pid and pid_alive(pid):
                continue
            self._remove_id(c["Id"])
            removed += 1
        return removed

    def remove_run(self, run_id: str) -> int:
        """Remove every container of run `run_id` (a resumed run's dead runner left them)."""
        leftovers = self._labelled(f"{LABEL_RUN}={run_id}")
        for c in leftovers:
            self._remove_id(c["Id"])
        return len(leftovers)

    def close(self) -> None:
        with self._lock:
            removals = list(self._removals)
        for thread in removals:
            thread.join(timeout=120)
        with self._lock:
            self._closed = True
            leftovers = list(self._containers.values())
            self._containers.clear()
        for c in leftovers:
            self._remove_id(c.id)
        for c in self._labelled(f"{LABEL_RUN}={self.run_id}"):
            self._remove_id(c["Id"])

    # -- cells ---------------------------------------------------------------------------------
    def sandbox(self, cell: Cell, image: str, cancel: threading.Event) -> DockerSandbox:
        return DockerSandbox(self, cell, image, cancel)

    def native_bytecode(
        self,
        distro: Distro,
        sources: IO[bytes],
        dirs: Sequence[str],
        prefix: str,
        timeout_s: float,
        *,
        files: Sequence[str] | None = None,
        stdlib: bool = True,
    ) -> IO[bytes] | None:
        tag = prepare_images.held(self.client, distro, host_arch())
        if tag is None:
            return None
        # compileall over the directories, as nobody, with no network and no
        # capabilities; the sources are put in before it starts. A source that does not compile
        # (a Python 2 test file) just gets no .pyc: the cell compiles what it imports, as before.
        # Packages' test suites (a third of scipy's sources) are left to that too. The standard
        # library is compiled as well: under a pycache prefix the interpreter does not look in
        # the distro's own __pycache__ folders, and the first import of a stack compiled dozens
        # of its modules under emulation. Everything is hash-checked (force=True rewrites what
        # the compiler's own imports wrote), so a stdlib file that differs between the two
        # arches is simply compiled again in the cell.
        # With `files`, only those (listed in a file: too many for a command line) and the
        # standard library only with `stdlib`.
        script = (
            "import compileall, concurrent.futures, functools, os, re, sys, sysconfig\n"
            "mode = compileall.py_compile.PycInvalidationMode.CHECKED_HASH\n"
            "skip = re.compile(r'/(tests?|idlelib|turtledemo)/')\n"
            "std = sysconfig.get_paths()\n"
            "listing = os.environ['WM_LIST']\n"
            "roots = [] if os.path.exists(listing) else sys.argv[1:]\n"
            "if os.environ.get('WM_STDLIB') == '1':\n"
            "    roots += sorted({std['stdlib'], std['platstdlib']})\n"
            "if os.path.exists(listing):\n"
            "    with open(listing, encoding='utf-8', errors='surrogateescape') as fh:\n"
            "        listed = [f for f in fh.read().split('\\0') if f and not skip.search(f)]\n"
            "    one = functools.partial(\n"
            "        compileall.compile_file, quiet=2, force=True, invalidation_mode=mode)\n"
            "    with concurrent.futures.ProcessPoolExecutor() as pool:\n"
            "        list(pool.map(one, listed, chunksize=16))\n"
            "for r in roots:\n"
            "    compileall.compile_dir(r, quiet=2, workers=0, force=True, rx=skip, invalidation_mode=mode)\n"
        )
        try:
            container = self._compile_container(tag, distro, script, dirs, prefix, stdlib)
        except docker.errors.APIError:
            return None
        try:
            if not container.put_archive("/", sources):
                raise InfrastructureError("could not copy the sources into the compile sandbox")
            if files is not None:  # the file alone: an entry for /tmp would change its mode
                names = "\0".join(files).encode("utf-8", "surrogateescape")  # as tarfile read them
                listing = _tar({posixpath.basename(COMPILE_LIST): (names, 0o644)})
                if not container.put_archive(posixpath.dirname(COMPILE_LIST), listing):
                    raise InfrastructureError("could not copy the list of sources into the compile sandbox")
            container.start()
            status = container.wait(timeout=timeout_s)
            if status.get("StatusCode") != 0:
                return None
            out = tempfile.TemporaryFile()  # noqa: SIM115 (the caller owns and closes it)
            stream, _stat = container.get_archive(prefix)
            for chunk in stream:
                out.write(chunk)
            out.seek(0)
            return out
        except (requests.exceptions.ReadTimeout, docker.errors.APIError):
            return None  # an optional speed-up: the cell compiles what it imports instead
        finally:
            self._remove_id(container.id)
            self._untrack(container)

    def _compile_container(
        self, tag: str, distro: Distro, script: str, dirs: Sequence[str], prefix: str, stdlib: bool
    ) -> Any:
        container = self.client.containers.create(
            tag,
            # the prefix through the environment, not -X: compileall's worker processes are
            # started afresh on Python 3.13 (forkserver) and get the environment, not the flags
            [distro.python_executable, "-s", "-c", script, *dirs],
            environment={"PYTHONPYCACHEPREFIX": prefix, "WM_STDLIB": "1" if stdlib else "0",
                         "WM_LIST": COMPILE_LIST},
            labels={images.LABEL_MANAGED: "true", images.LABEL_KIND: "compile", LABEL_RUN: self.run_id,
                    LABEL_PID: str(os.getpid()), LABEL_HOST: socket.gethostname()},
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            user=NOBODY,
            working_dir="/tmp",
            ulimits=self.ulimits,
            # the shared uv cache, read-only: the sources of uv's symlink installs are there
            # (what the cells' local_path answers for), not copied through the engine
            mounts=[] if self.remote else [Mount(UV_CACHE, str(self._uv_cache), type="bind", read_only=True)],
        )  # fmt: skip
        self._track(container)
        return container

    @contextlib.contextmanager
    def guard(self, cancel: threading.Event) -> Iterator[None]:
        try:
            yield
        except _CONNECTION_ERRORS as exc:
            # the engine went away (stopped, restarted, unreachable): the cell is not at fault
            raise EngineDown(f"{self.engine}: {type(exc).__name__}") from exc
        except docker.errors.DockerException as exc:
            reason = "stopped" if cancel.is_set() else f"engine error: {str(exc)[:300]}"
            raise InfrastructureError(reason) from exc

    def remove_later(self, sandbox: Sandbox) -> None:
        """Remove the container in the background: the worker goes on to its next cell (the
        run's close waits for every removal)."""

        def remove() -> None:
            with contextlib.suppress(*_CONNECTION_ERRORS, docker.errors.DockerException):
                sandbox.remove()

        thread = threading.Thread(target=remove, name="wm-remove", daemon=True)
        with self._lock:
            self._removals = [t for t in self._removals if t.is_alive()]
            self._removals.append(thread)
        thread.start()

    def _mounts(self, cell: Cell, image_id: str = "") -> list[Mount]:
        installer = self.options.installer_for(cell)
        if self.remote:
            if installer != "uv":
                return []
            return [
                Mount(f"{WM_ROOT}/bin", self._uv_volume(cell.arch), type="volume", read_only=True),
                Mount(UV_CACHE, UV_CACHE_VOLUME, type="volume", read_only=False),
            ]
        mounts = [Mount(PROBE_DIR, str(PROBE_DIR_HOST), type="bind", read_only=True)]
        if installer == "uv":
            mounts.append(Mount(f"{WM_ROOT}/bin/uv", str(self._uv[cell.arch]), type="bind", read_only=True))
            mounts.append(Mount(UV_CACHE, str(self._uv_cache), type="bind", read_only=False))
            own = self._interpreter_info(cell.arch, image_id)
            if own is not None:
                mounts.append(Mount(*own, type="bind", read_only=False))
        if self._ca is not None:
            mounts.append(Mount(CA_BUNDLE, str(self._ca), type="bind", read_only=True))
        if cell.cpu:
            mounts.append(Mount(QEMU_BIN, qemu_static(cell.arch), type="bind", read_only=True))
        packed = self._native_python(cell)
        for target, folder in packed.mounts() if packed is not None else ():
            mounts.append(Mount(target, str(folder), type="bind", read_only=True))
        for pick in (*cell.candidates, *cell.companions):
            if pick.wheel is not None:
                target = f"{WHEELS_DIR}/{pick.wheel.filename}"
                mounts.append(Mount(target, str(pick.wheel.path), type="bind", read_only=True))
        for target, path in self.options.find_links_targets:
            mounts.append(Mount(target, str(path), type="bind", read_only=True))
        return mounts

    def _interpreter_info(self, arch: str, image_id: str) -> tuple[str, str] | None:
        """(in-cell path, host folder): uv's interpreter-info bucket, one per image.

        uv caches what it learns by running an interpreter under the interpreter's path alone
        (checked against its ctime), so the x86_64 and the aarch64 image of one distro, with
        the same /usr/bin/python3.X and /tmp/wm-venv/bin/python, overwrote each other's entry
        and every cell ran its interpreter twice more to ask again: about 0.6 s each under
        emulation. Over the shared cache, each image gets its own bucket. None where the uv
        binary does not name its bucket (the shared one is then used, as before)."""
        bucket = _interpreter_bucket(self._uv[arch]) if arch in self._uv else None
        if bucket is None or not image_id:
            return None
        folder = cache_dir() / "uv-interpreters" / image_id.removeprefix("sha256:")[:16]
        folder.mkdir(parents=True, exist_ok=True)
        return f"{UV_CACHE}/{bucket}", str(folder)

    def _uv_volume(self, arch: str) -> str:
        """A named volume of this engine holding the static uv for `arch` (made once)."""
        binary = self._uv[arch]
        name = f"wheelmatrix-uv-{arch}-{binary.parent.name}"
        with self._lock:
            if name in self._volumes:
                return name
            try:
                self.client.volumes.get(name)
            except docker.errors.NotFound:
                self.client.volumes.create(name, labels={images.LABEL_MANAGED: "true"})
                self._fill_volume(name, {"uv": (binary.read_bytes(), 0o755)})
            self._volumes[name] = name
            return name

    def _fill_volume(self, name: str, files: Mapping[str, tuple[bytes, int]]) -> None:
        image = next(iter(self.image_ids), None)
        if image is None:
            raise InfrastructureError("no image on this engine to fill a volume with")
        helper = self.client.containers.create(
            image, ["true"], mounts=[Mount("/v", name, type="volume")], labels={images.LABEL_MANAGED: "true"}
        )
        try:
            if not helper.put_archive("/v", _tar(files)):
                raise InfrastructureError(f"could not fill the volume {name} on {self.engine}")
        except BaseException:
            with contextlib.suppress(docker.errors.DockerException):
                self.client.volumes.get(name).remove(force=True)
            raise
        finally:
            _remove_id(self.client, helper.id)

    def inputs_archive(self, cell: Cell) -> bytes:
        """Remote engines: everything a cell reads from the runner, as one archive for '/'."""
        files: dict[str, tuple[bytes, int]] = {}
        for probe in PROBE_DIR_HOST.glob("*.py"):
            files[f"{PROBE_DIR.lstrip('/')}/{probe.name}"] = (probe.read_bytes(), 0o644)
        if self._ca is not None:
            files[CA_BUNDLE.lstrip("/")] = (self._ca.read_bytes(), 0o644)
        if cell.cpu:
            files[QEMU_BIN.lstrip("/")] = (Path(qemu_static(cell.arch)).read_bytes(), 0o755)
        for pick in (*cell.candidates, *cell.companions):
            if pick.wheel is not None:
                files[f"{WHEELS_DIR.lstrip('/')}/{pick.wheel.filename}"] = (
                    pick.wheel.path.read_bytes(),
                    0o644,
                )
        links = self.options.find_links_targets
        for target, path in links:
            for wheel in sorted(path.glob("*.whl")):
                files[f"{target.lstrip('/')}/{wheel.name}"] = (wheel.read_bytes(), 0o644)
        return _tar(files, empty_dirs=[WHEELS_DIR, *(target for target, _path in links)])

    def _track(self, container: Any) -> None:
        with self._lock:
            if not self._closed:
                self._containers[container.id] = container
                return
        self._remove_id(container.id)  # created while the run was being closed
        raise InfrastructureError("the run was stopped")

    def _untrack(self, container: Any) -> None:
        with self._lock:
            self._containers.pop(container.id, None)


class DockerSandbox:
    """A cell's container: create, exec the probe, copy in, cut the network, remove."""

    def __init__(self, backend: DockerEngine, cell: Cell, image: str, cancel: threading.Event) -> None:
        self.b = backend
        self.cell = cell
        self.image = image
        self.cancel = cancel
        self.container: Any = None
        self.image_id = backend.image_ids.get(image, "")
        self.engine = backend.engine
        # owns the shared uv cache: the runner's user for a bind-mounted host cache, root for
        # an engine's named volume
        self.install_user = "0:0" if backend.remote else f"{os.getuid()}:{os.getgid()}"
        self.check_user = NOBODY
        self.qemu_env: dict[str, str] = {}  # in every process's environment (see emulator_env)
        self.probe_python: tuple[str, ...] = (cell.distro.python_executable,)
        self.native_probe = False  # a foreign arch's probes run natively (native_python.py)

    def start(self) -> None:
        opts = self.b.options
        labels = {
            images.LABEL_MANAGED: "true",
            images.LABEL_KIND: "cell",
            LABEL_RUN: self.b.run_id,
            LABEL_PID: str(os.getpid()),
            LABEL_HOST: socket.gethostname(),
            LABEL_CELL: self.cell.id,
        }
        self.container = self.b.client.containers.create(
            self.image,
            ["tail", "-f", "/dev/null"],
            labels=labels,
            init=True,
            mounts=self.b._mounts(self.cell, self.image_id),
            network_mode="bridge",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges:true"],
            pids_limit=opts.pids,
            mem_limit=opts.memory,
            working_dir="/tmp",
            environment={"PYTHONDONTWRITEBYTECODE": "1"},
            ulimits=self.b.ulimits,
        )
        self.b._track(self.container)
        if self.b.remote and not self.container.put_archive("/", self.b.inputs_archive(self.cell)):
            raise InfrastructureError(f"could not copy the cell's inputs into {self.cell.label}")
        self.container.start()
        self.qemu_env = self.b.emulator_env(self) if self.cell.emulated and not self.cell.cpu else {}
        native = self.b.native_probe(self)
        if native:
            self.probe_python, self.native_probe = native, True

    def remove(self) -> None:
        if self.container is not None:
            self.b._remove_id(self.container.id)
            self.b._untrack(self.container)

    def isolate(self) -> None:
        self.container.reload()
        for net in list((self.container.attrs.get("NetworkSettings") or {}).get("Networks") or {}):
            self.b.client.api.disconnect_container_from_network(self.container.id, net, force=True)

    def put_dir(self, local: Path, target: str, skip: Collection[str] = ()) -> None:
        """Copy through the engine API (works with remote engines): a tar owned by nobody."""
        buf = io.BytesIO()

        def owned(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            parts = info.name.split("/")
            if len(parts) == 2 and parts[1] in skip:  # the top level of the directory
                return None
            info.uid = info.gid = 65534
            info.uname = info.gname = ""
            info.mode = 0o755 if info.isdir() else (info.mode | 0o644)
            return info

        parent, name = posixpath.split(target.rstrip("/"))
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(str(local), arcname=name, filter=owned)
        if not self.container.put_archive(parent or "/", buf.getvalue()):
            raise InfrastructureError(f"could not copy {local} into {self.cell.label}")

    def read_tree(self, path: str) -> Iterable[bytes]:
        try:
            stream, _stat = self.container.get_archive(path)
        except docker.errors.NotFound:
            return []
        return stream  # type: ignore[no-any-return]

    def put_tree(self, parent: str, archive: IO[bytes]) -> None:
        if not self.container.put_archive(parent, archive):
            raise InfrastructureError(f"could not copy an archive into {parent} of {self.cell.label}")

    def local_path(self, path: str) -> tuple[Path, str] | None:
        # the shared uv cache is a bind mount of a folder of ours for a local engine: the files
        # of uv's symlink installs are read there, not through the engine (a call per file)
        if self.b.remote or self.b.options.installer_for(self.cell) != "uv":
            return None
        if not path.startswith(UV_CACHE + "/"):
            return None
        return self.b._uv_cache, path[len(UV_CACHE) + 1 :]

    def read_file(self, path: str) -> bytes:
        stream, _stat = self.container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = next((m for m in tar.getmembers() if m.isfile()), None)
            extracted = tar.extractfile(member) if member is not None else None
            if extracted is None:
                raise InfrastructureError(f"could not read {path} from {self.cell.label}")
            return extracted.read()

    def probe(
        self,
        command: str,
        plan: Mapping[str, Any],
        *,
        user: str,
        budget: float,
        script: str = PROBE,
        on_output: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Run the probe in the container; kill the container if it overruns its budget. With
        `on_output`, the probe echoes what it runs and each line of that reaches `on_output` as
        it arrives (records are still collected, never passed on)."""
        api = self.b.client.api
        if on_output is not None:
            plan = {**plan, "echo": True}
        token = new_token()  # in the probe's environment only: what it runs never sees it
        exec_id = api.exec_create(
            self.container.id,
            [*self.probe_python, "-I", "-S", script, command, json.dumps(plan)],
            user=user,
            workdir="/tmp",
            environment={TOKEN_ENV: token, **self.qemu_env},
        )["Id"]
        watchdog = threading.Timer(budget, self._kill)
        watchdog.daemon = True
        watchdog.start()
        started = time.monotonic()
        try:
            if on_output is None:
                output = split_output([api.exec_start(exec_id)], token)
            else:
                output = split_output(api.exec_start(exec_id, stream=True), token, on_output)
        finally:
            watchdog.cancel()
        records, text = output.records, output.text
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code not in (0, None) and not records:
            raise InfrastructureError(
                f"the probe failed in {self.cell.label} (exit {code}, {time.monotonic() - started:.1f} s): "
                f"{text.strip()[-400:]}"
            )
        return records

    def interactive_argv(
        self, argv: Sequence[str], *, user: str, env: Mapping[str, str], tty: bool
    ) -> list[str]:
        """The `docker exec` command line that runs argv in this container, attached to the
        caller's terminal (the engine API has no portable interactive attach of its own)."""
        cli = shutil.which("docker")
        if cli is None:
            raise InfrastructureError(
                "an interactive shell needs the docker command-line client, which is not on PATH",
                hint="install it (Debian: docker.io or docker-ce-cli)",
            )
        flags = ["-i", *(["-t"] if tty else []), "-u", user, "-w", "/tmp"]
        for key, value in {**self.qemu_env, **env}.items():
            flags += ["-e", f"{key}={value}"]
        return [cli, "-H", self.b.url, "exec", *flags, self.container.id, *argv]

    def _kill(self) -> None:
        with contextlib.suppress(docker.errors.DockerException):
            self.container.kill()


UV_CACHE_VOLUME = "wheelmatrix-uv-cache"
# QEMU settings for emulated cells of the default CPU, per arch (DockerEngine.emulator_env)
FAST_EMULATION = {"aarch64": {"QEMU_CPU": "max,pauth-impdef=on"}}


PODMAN_ULIMITS = {"nofile": 4096, "nproc": 4096}  # within any service's own limits


def _podman_ulimits() -> list[Any]:
    """Explicit limits for podman containers, low enough for crun to set without privileges."""
    from docker.types import Ulimit

    return [Ulimit(name=name, soft=value, hard=value) for name, value in PODMAN_ULIMITS.items()]


def _tar(files: Mapping[str, tuple[bytes, int]], empty_dirs: Sequence[str] = ()) -> bytes:
    """A tar of {path: (bytes, mode)}, their directories and `empty_dirs` included, owned by root."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        dirs: set[str] = set()
        for path in [*sorted(files), *(f"{d.strip('/')}/" for d in empty_dirs)]:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in dirs:
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    dirs.add(d)
            if path not in files:
                continue
            data, mode = files[path]
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _once_per_arch(lock: threading.Lock, known: dict[str, Any], arch: str, check: Callable[[], Any]) -> Any:
    """What `check` answered in an engine's first cell of `arch`, kept in `known` (asked once;
    two cells starting together may both ask, and agree)."""
    with lock:
        if arch in known:
            return known[arch]
    answer = check()
    with lock:
        return known.setdefault(arch, answer)


@functools.lru_cache(maxsize=8)
def _interpreter_bucket(binary: Path) -> str | None:
    """The name of uv's interpreter-info bucket (`interpreter-v5` for uv 0.13), read out of
    the binary: it changes when uv changes the entries' format."""
    try:
        found = set(re.findall(rb"interpreter-v[0-9]+", binary.read_bytes()))
    except OSError:
        return None
    return found.pop().decode() if len(found) == 1 else None


COMPILE_LIST = "/tmp/wm-compile-list"  # in the compile sandbox: the sources to compile, NUL-separated


def _uv_arch(cell_arch: str) -> str:
    """Which uv binary to mount: the host's own arch where it can run one.

    uv is a static executable; one built for the host's arch runs natively inside a foreign-arch
    container (the kernel runs it directly; only foreign binaries go through QEMU). uv takes the
    platform to install for from the cell's interpreter, not from its own build, so the wheels
    picked are the cell's; resolving, unpacking and copying then run at native speed.
    """
    native = host_arch()
    return native if native in ("x86_64", "aarch64") else cell_arch


def _remove_id(client: Any, container_id: str) -> None:
    """Remove a container (running or not); gone already, or being removed, is fine."""
    try:
        client.api.remove_container(container_id, force=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise
