"""The registry path for real: a local registry (Debian's docker-registry) on 127.0.0.1 holding
a two-platform image, catalog references resolved through --registry-mirror, pulls per arch,
preparation with the family's commands, the prepared image cached, and the error cases."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import paths, wheelmatrix
from tests.fixtures.wheels import Fixture

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("debian_images"),
    pytest.mark.xdist_group("registry"),
]

# Per test process: xdist workers each start their own registry and prepare their own images
# (distro ids carry the token, so prepared image tags never collide between workers)
TOKEN = uuid.uuid4().hex[:8]
REG = f"wm-registry-{TOKEN}"
ABSENT = f"wm-absent-{TOKEN}"
CATALOG = """\
schema: 1
families:
  ready-made:
    python_packages: []
    install:
      - command -v python3
      - python3 -m venv --help > /dev/null
distros:
  {reg}:
    name: a registry image that already has Python
    family: ready-made
    libc: {family: glibc, version: "2.36"}
    python: "3.11"
    archs: [x86_64, aarch64]
    images: {x86_64: "wm/pybase:12", aarch64: "wm/pybase:12"}
  {absent}:
    name: an image the registry does not have
    family: ready-made
    libc: {family: glibc, version: "2.36"}
    python: "3.11"
    archs: [x86_64]
    images: {x86_64: "wm/absent:1"}
""".replace("{reg}", REG).replace("{absent}", ABSENT)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_registry(root: Path, auth: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("docker-registry")
    if exe is None:
        pytest.fail(
            "docker-registry is not installed: run scripts/setup-host.sh with WHEELMATRIX_TEST_DEPS=1"
        )
    port = _free_port()
    config = root / "config.yml"
    lines = [
        "version: 0.1",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "http:",
        f"  addr: 127.0.0.1:{port}",
    ]
    if auth:  # basic auth: a pull without credentials is refused (the hash is never checked)
        (root / "htpasswd").write_text("someone:$2y$05$" + "x" * 53 + "\n")
        lines += ["auth:", "  htpasswd:", "    realm: wheelmatrix-test", f"    path: {root / 'htpasswd'}"]
    config.write_text("\n".join(lines) + "\n")
    proc = subprocess.Popen([exe, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{url}/v2/", timeout=1)
            break
        except urllib.error.HTTPError:  # 401 from the refusing one: it is up
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the local registry did not start")
    return proc, url


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry holding wm/pybase:12 for linux/amd64 and linux/arm64 (a manifest list made
    from the locally built Debian 12 images), and no prepared wm-registry image in the engine."""
    import docker

    from wheelmatrix.backends.docker.images import prepare
    from wheelmatrix.config.catalog import default_catalog_path, load_catalog

    proc, url = _start_registry(tmp_path_factory.mktemp("registry"))
    client = docker.from_env(timeout=600)
    catalog = load_catalog(default_catalog_path())
    try:
        parts = []
        for arch, suffix in (("x86_64", "amd64"), ("aarch64", "arm64")):
            tag = prepare(client, catalog.get("debian-12"), arch, lambda m: None)
            target = f"{url}/wm/pybase:12-{suffix}"
            client.images.get(tag).tag(target)
            for line in client.images.push(target, stream=True, decode=True):
                assert "error" not in line, line
            parts.append(target)
        cli = shutil.which("docker")
        assert cli is not None, "the docker command-line client is needed to make a manifest list"
        subprocess.run([cli, "manifest", "rm", f"{url}/wm/pybase:12"], capture_output=True)
        made = subprocess.run(
            [cli, "manifest", "create", "--insecure", f"{url}/wm/pybase:12", *parts],
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
        pushed = subprocess.run(
            [cli, "manifest", "push", "--insecure", f"{url}/wm/pybase:12"], capture_output=True, text=True
        )
        assert pushed.returncode == 0, pushed.stderr
        assert not client.images.list(name=f"wheelmatrix/{REG}")  # a fresh id: nothing prepared yet
        for target in [*parts, f"{url}/wm/pybase:12"]:
            with contextlib.suppress(docker.errors.APIError):  # ImageNotFound is one
                client.images.remove(target, noprune=True)
        yield url
    finally:
        proc.kill()
        proc.wait()
        # what the tests pulled and prepared (a fresh name each session): not left in the engine.
        # By tag, not by id: a pulled image can be the very image a local Debian tag names.
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith((f"wheelmatrix/{REG}:", f"{url}/wm/pybase:")):
                    with contextlib.suppress(docker.errors.APIError):
                        client.images.remove(tag, noprune=True)


def test_images_are_pulled_per_arch_through_the_mirror_prepared_and_cached(
    registry: str, wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    import docker

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    args = (*paths(wheels["pure"]), "--catalog", catalog, "--distro", REG, "--scenario", "import")
    run = wheelmatrix(*args, "--registry-mirror", registry, tmp=tmp_path)
    assert run.rc == 0, run.explain()
    cells = run.by_cell("import wmpure")
    assert {k: v["status"] for k, v in cells.items()} == {
        (REG, "x86_64"): "passed",
        (REG, "aarch64"): "passed",
    }
    log = "".join(p.read_text() for p in (tmp_path / "runs").glob("*/run.log"))
    assert f"pulling {registry}/wm/pybase:12 (linux/amd64)" in log, log[-3000:]
    assert f"pulling {registry}/wm/pybase:12 (linux/arm64)" in log, log[-3000:]
    client = docker.from_env()
    prepared = {i.attrs["Architecture"] for i in client.images.list(name=f"wheelmatrix/{REG}")}
    assert prepared == {"amd64", "arm64"}
    # the prepared images are reused: a second run pulls nothing, even with the mirror gone
    again = wheelmatrix(*args, "--registry-mirror", "127.0.0.1:9", tmp=tmp_path)
    assert again.rc == 0, again.explain()
    logs = sorted((tmp_path / "runs").glob("*/run.log"), key=lambda p: p.stat().st_mtime)
    assert "pulling" not in logs[-1].read_text()


def test_environment_variable_sets_the_mirror(
    registry: str, wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    import os

    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    env_before = os.environ.get("WHEELMATRIX_REGISTRY_MIRROR")
    os.environ["WHEELMATRIX_REGISTRY_MIRROR"] = registry
    try:
        run = wheelmatrix(
            *paths(wheels["pure"]),
            "--catalog",
            catalog,
            "--distro",
            ABSENT,
            "--scenario",
            "import",
            tmp=tmp_path,
        )
    finally:
        if env_before is None:
            del os.environ["WHEELMATRIX_REGISTRY_MIRROR"]
        else:
            os.environ["WHEELMATRIX_REGISTRY_MIRROR"] = env_before
    assert run.rc != 0, run.explain()
    (r,) = run.results("prepare image")
    assert r["status"] == "error", r
    assert f"has no image {registry}/wm/absent:1" in r["detail"], r
    assert "check the reference in the distro catalog" in r["detail"], r


@pytest.mark.parametrize("case", ["unreachable", "refused"])
def test_registry_failures_end_the_cells_in_error_naming_the_fix(
    case: str, wheels: dict[str, Fixture], tmp_path: Path
) -> None:
    proc = None
    if case == "refused":
        (tmp_path / "auth").mkdir()
        proc, url = _start_registry(tmp_path / "auth", auth=True)
    else:
        url = f"127.0.0.1:{_free_port()}"  # nothing listens there
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG.replace("wm/absent:1", "wm/elsewhere:1"))
    try:
        run = wheelmatrix(
            *paths(wheels["pure"]), "--catalog", catalog, "--distro", ABSENT, "--scenario", "import",
            "--registry-mirror", url, tmp=tmp_path,
        )  # fmt: skip
    finally:
        if proc is not None:
            proc.kill()
    assert run.rc != 0, run.explain()
    (r,) = run.results("prepare image")
    assert r["status"] == "error", r
    assert f"{url}/wm/elsewhere:1" in r["detail"], r
    words = {"unreachable": "cannot reach the mirror", "refused": "docker login"}[case]
    assert words in r["detail"], r
