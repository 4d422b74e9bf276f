"""One factory: the engine URL picks the backend implementation.

`connect(url)` returns a `Connection` (backends/base.py). Docker-API engines (Docker, podman's
compatible socket) answer unix://, tcp://, ssh://, npipe:// and http(s):// URLs, and None (the
environment's DOCKER_HOST or the local socket). A new kind of engine is one module implementing
the protocols plus one entry in KINDS.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import cast

from wheelmatrix.backends.base import Connection
from wheelmatrix.errors import InputError

# URL scheme -> "module:function" returning a Connection for that URL (imported only when used,
# so that commands which never reach an engine do not import its SDK)
KINDS: dict[str, str] = {
    "unix": "wheelmatrix.backends.docker.connection:connect",
    "tcp": "wheelmatrix.backends.docker.connection:connect",
    "ssh": "wheelmatrix.backends.docker.connection:connect",
    "npipe": "wheelmatrix.backends.docker.connection:connect",
    "http": "wheelmatrix.backends.docker.connection:connect",
    "https": "wheelmatrix.backends.docker.connection:connect",
}
DEFAULT = "unix"  # no URL: the environment's engine (DOCKER_HOST, else the local socket)


def scheme_of(url: str | None) -> str:
    if url is None:
        return DEFAULT
    scheme, sep, _rest = url.partition("://")
    if not sep or scheme not in KINDS:
        raise InputError(
            f"'{url}' is not an engine URL wheelmatrix knows",
            hint="use one of " + ", ".join(f"{k}://" for k in KINDS) + " (e.g. unix:///var/run/docker.sock)",
        )
    return scheme


def connect(url: str | None = None) -> Connection:
    """A connection to the engine at `url` (raises InfrastructureError when it does not answer)."""
    module, _, func = KINDS[scheme_of(url)].partition(":")
    factory = cast(Callable[[str | None], Connection], getattr(importlib.import_module(module), func))
    return factory(url)
