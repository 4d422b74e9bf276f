"""One Docker-API engine named by a URL (unix://, tcp://, ssh://, npipe://): connect, facts, and
what it holds; `open` starts a run on it (engine.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import docker
import docker.errors

from wheelmatrix.backends.base import EngineFacts, EngineOptions
from wheelmatrix.backends.images import LABEL_MANAGED
from wheelmatrix.errors import InfrastructureError
from wheelmatrix.host import setup_command

DEFAULT_URL = "unix:///var/run/docker.sock"


class DockerConnection:
    """A connected Docker SDK client and what the rest of wheelmatrix may ask of it."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url
        self.remote = is_remote(url)
        self.name = _describe(client, url)
        self._tags: set[str] | None = None

    # -- facts ---------------------------------------------------------------------------------
    def answers(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:
            return False

    def facts(self) -> EngineFacts:
        info = self.client.info()
        version = self.client.version()
        from pathlib import Path

        return EngineFacts(
            product=self.name.split()[0],
            version=str(version.get("Version", "?")),
            api=str(version.get("ApiVersion", "")),
            storage_driver=str(info.get("Driver", "")),
            cgroup=str(info.get("CgroupVersion", "?")),
            storage_root=Path(info.get("DockerRootDir", "/var/lib/docker")),
        )

    def prepared_tags(self) -> set[str]:
        if self._tags is None:
            found = self.client.images.list(filters={"label": f"{LABEL_MANAGED}=true"})
            self._tags = {t for img in found for t in img.tags}
        return self._tags

    def image_arch(self, ref: str) -> str | None:
        try:
            arch = self.client.images.get(ref).attrs.get("Architecture")
        except Exception:
            return None
        return str(arch) if arch else None

    def registry_answers(self, ref: str) -> bool:
        try:
            self.client.images.get_registry_data(ref)
            return True
        except Exception:
            return False

    def save_image(self, ref: str) -> Iterable[bytes]:
        chunks: Iterable[bytes] = self.client.images.get(ref).save(named=True)
        return chunks

    # -- runs ----------------------------------------------------------------------------------
    def open(self, options: EngineOptions, run_id: str) -> Any:
        from wheelmatrix.backends.docker.engine import DockerEngine

        return DockerEngine(self, options, run_id)


def connect(url: str | None = None) -> DockerConnection:
    """The engine at `url`, else the one named by DOCKER_HOST (or the local socket)."""
    try:
        if url is None:
            client = docker.from_env(timeout=600)
        else:
            client = docker.DockerClient(base_url=url, timeout=600, use_ssh_client=url.startswith("ssh://"))
        client.ping()
    except Exception as exc:
        where = url or os.environ.get("DOCKER_HOST") or "the local engine"
        raise InfrastructureError(
            f"no container engine answers at {where} ({exc.__class__.__name__}: {str(exc)[:200]})",
            hint=f"start one with `{setup_command()}`, or point DOCKER_HOST at an engine; "
            "`wheelmatrix doctor` shows what is missing",
        ) from None
    return DockerConnection(client, url or os.environ.get("DOCKER_HOST") or DEFAULT_URL)


def is_remote(url: str) -> bool:
    """An engine reached over the network shares no filesystem with the runner (nothing can be
    bind-mounted). A unix socket is an engine on this machine, which sees the runner's files."""
    return not url.startswith(("unix://", "npipe://"))


def _describe(client: Any, url: str) -> str:
    """Which engine answers, e.g. 'docker 20.10.24 at unix:///var/run/docker.sock'."""
    try:
        version = client.version()
    except Exception:
        version = {}
    product = "podman" if "podman" in json.dumps(version.get("Components", [])).lower() else "docker"
    return f"{product} {version.get('Version', '?')} at {url}"


__all__ = ["DEFAULT_URL", "DockerConnection", "connect", "is_remote", "docker"]
