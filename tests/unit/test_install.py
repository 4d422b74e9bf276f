"""Installer command lines and failure classification (wheelmatrix/install.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wheelmatrix.cell.install import (
    UV_BIN,
    VENV,
    VENV_PYTHON,
    IndexSettings,
    classify_install_failure,
    install_argv,
    installer_env,
    venv_argv,
)
from wheelmatrix.model import Status

INDEX = IndexSettings(
    index_url="https://mirror.example/simple",
    extra_index_urls=("https://extra1.example/simple", "https://extra2.example/simple"),
)
WHEEL = "/opt/wheelmatrix/wheels/wmpure-1.0-py3-none-any.whl"


def option_values(argv: tuple[str, ...], option: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == option]


# --------------------------------------------------------------------------- command lines


def test_uv_install_is_binary_only_into_the_venv() -> None:
    argv = install_argv("uv", [WHEEL, "numpy>=1.26"], index=IndexSettings(), find_links=[], offline=False)
    assert argv[:3] == (UV_BIN, "pip", "install")
    assert option_values(argv, "--python") == [VENV_PYTHON]
    assert "--no-build" in argv
    # compiling the whole environment here takes minutes under emulation (scipy's tests
    # included): the checks share a bytecode cache instead (the probe's PYTHONPYCACHEPREFIX)
    assert "--compile-bytecode" not in argv
    assert argv[-2:] == (WHEEL, "numpy>=1.26")
    assert "--no-index" not in argv and "--index-url" not in argv


def test_pip_install_is_binary_only_with_the_venv_pip() -> None:
    argv = install_argv("pip", [WHEEL], index=IndexSettings(), find_links=[], offline=False)
    assert argv[:4] == (VENV_PYTHON, "-m", "pip", "install")
    assert "--only-binary=:all:" in argv
    assert argv[-1] == WHEEL


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_index_urls_and_find_links(installer: str) -> None:
    links = ["/opt/wheelmatrix/find-links/0", "/opt/wheelmatrix/find-links/1"]
    argv = install_argv(installer, [WHEEL], index=INDEX, find_links=links, offline=False)
    assert option_values(argv, "--index-url") == ["https://mirror.example/simple"]
    assert option_values(argv, "--extra-index-url") == list(INDEX.extra_index_urls)
    assert option_values(argv, "--find-links") == links
    assert argv[-1] == WHEEL


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_offline_uses_no_index_and_only_find_links(installer: str) -> None:
    argv = install_argv(installer, [WHEEL], index=INDEX, find_links=["/fl/0"], offline=True)
    assert "--no-index" in argv
    assert "--index-url" not in argv and "--extra-index-url" not in argv
    assert option_values(argv, "--find-links") == ["/fl/0"]


def test_venv_argv() -> None:
    assert venv_argv("uv", "/usr/bin/python3") == (
        UV_BIN,
        "venv",
        "--quiet",
        "--no-project",
        "--python",
        "/usr/bin/python3",
        VENV,
    )
    assert venv_argv("pip", "/usr/bin/python3") == ("/usr/bin/python3", "-m", "venv", VENV)


def test_installer_env() -> None:
    index = IndexSettings(has_ca_bundle=True, proxy_env={"HTTPS_PROXY": "http://p:3128"})
    uv = installer_env("uv", index, True)
    assert uv["UV_OFFLINE"] == "1" and uv["UV_PYTHON_DOWNLOADS"] == "never"
    assert uv["HTTPS_PROXY"] == "http://p:3128"
    assert uv["SSL_CERT_FILE"] == uv["PIP_CERT"]
    pip = installer_env("pip", IndexSettings(), False)
    assert "UV_OFFLINE" not in pip and "SSL_CERT_FILE" not in pip
    assert pip["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"


# --------------------------------------------------------------------------- failures


def output(*lines: str) -> str:
    """Installer output, one argument per line (long lines are split only in the source)."""
    return "\n".join(lines)


UV_PATH_INCOMPATIBLE = output(
    "error: Failed to determine installation plan",
    "  Caused by: A path dependency is incompatible with the current platform: "
    "/opt/wheelmatrix/wheels/wmforeign-1.0-cp311-cp311-win_amd64.whl",
    "",
    "hint: The wheel is compatible with Windows (`win_amd64`), but you're on Linux (`manylinux_2_36_x86_64`)",
)
UV_NO_MATCHING_TAG = output(
    "  × No solution found when resolving dependencies:",
    "  ╰─▶ Because only wmnewglibc==1.0 is available and wmnewglibc==1.0 has no wheels with a "
    "matching platform tag (e.g., `manylinux_2_31_x86_64`), we can conclude that all versions of "
    "wmnewglibc cannot be used.",
)
PIP_UNSUPPORTED = "ERROR: wmforeign-1.0-cp311-cp311-win_amd64.whl is not a supported wheel on this platform."
UV_CERT = output(
    "error: Request failed after 3 retries",
    "  Caused by: Failed to fetch: `https://pypi.org/simple/numpy/`",
    "  Caused by: error sending request for url (https://pypi.org/simple/numpy/)",
    "  Caused by: client error (Connect)",
    "  Caused by: invalid peer certificate: UnknownIssuer",
)
UV_CONFLICT = output(
    "  × No solution found when resolving dependencies:",
    "  ╰─▶ Because wmcolla==1.0 depends on numpy>=2 and you require numpy<2, we can conclude that "
    "your requirements are unsatisfiable.",
)
PIP_CONFLICT = output(
    "ERROR: Cannot install numpy<2 and wmcolla==1.0 because these package versions have "
    "conflicting dependencies.",
    "",
    "The conflict is caused by:",
    "    The user requested numpy<2",
    "    wmcolla 1.0 depends on numpy>=2",
    "",
    "To fix this you could try to:",
    "1. loosen the range of package versions you've specified",
    "2. remove package versions to allow pip to attempt to solve the dependency conflict",
    "",
    "ERROR: ResolutionImpossible: for help visit "
    "https://pip.pypa.io/en/latest/topics/dependency-resolution/#dealing-with-dependency-conflicts",
)


@pytest.mark.parametrize(
    "text, status, reason",
    [
        (UV_PATH_INCOMPATIBLE, Status.NOT_INSTALLABLE, "A path dependency is incompatible"),
        (UV_NO_MATCHING_TAG, Status.NOT_INSTALLABLE, "No solution found"),
        (PIP_UNSUPPORTED, Status.NOT_INSTALLABLE, "is not a supported wheel on this platform"),
        (
            "ERROR: certificate verify failed: unable to get local issuer certificate",
            Status.ERROR,
            "certificate verify failed",
        ),
        (UV_CERT, Status.ERROR, "Request failed after 3 retries"),
        (UV_CONFLICT, Status.FAILED, "No solution found when resolving dependencies"),
        (
            "error: No solution found when resolving dependencies:\n  Because all versions of mysqlclient "
            "have no usable wheels and you require mysqlclient, we can conclude that your requirements "
            "are unsatisfiable.",
            Status.NOT_INSTALLABLE,
            "No solution found",
        ),
        (PIP_CONFLICT, Status.FAILED, "ERROR: Cannot install numpy<2 and wmcolla==1.0"),
        (
            "error: No solution found when resolving dependencies:\n  Because the current Python version "
            "(3.9.2) does not satisfy Python>=3.10 and propcache==0.5.4 depends on Python>=3.10, we can "
            "conclude that propcache==0.5.4 cannot be used.",
            Status.NOT_INSTALLABLE,
            "No solution found",
        ),
    ],
    ids=[
        "uv-path-platform",
        "uv-no-matching-tag",
        "pip-unsupported",
        "cert",
        "uv-cert",
        "uv-conflict",
        "uv-no-usable-wheels",
        "pip-resolution-impossible",
        "uv-requires-python",  # propcache 0.5.4 on Debian 11's Python 3.9: not the wheel's failure
    ],
)
def test_classify_install_failure(text: str, status: Status, reason: str) -> None:
    got_status, detail = classify_install_failure(text)
    assert got_status is status
    assert reason in detail
    assert len(detail) <= 450


def test_classify_install_failure_detail_starts_with_the_verdict() -> None:
    assert classify_install_failure(PIP_UNSUPPORTED)[1].startswith("installer refused it: ERROR:")
    assert classify_install_failure(UV_CERT)[1].startswith("installer could not run: error:")
    assert classify_install_failure(PIP_CONFLICT)[1].startswith("install failed: ERROR:")
    assert classify_install_failure("")[1] == "install failed: no output"


_SSL_ERROR = (
    "SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
    "failed: self-signed certificate in certificate chain (_ssl.c:1006)'))"
)
_RETRY = (
    "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) "
    "after connection broken by "
)
_PIP_GIVES_UP = (
    "ERROR: Could not find a version that satisfies the requirement numpy>=1.26 (from versions: none)",
    "ERROR: No matching distribution found for numpy>=1.26",
)
PIP_CERT = output(
    f"{_RETRY}'{_SSL_ERROR}': /simple/numpy/",
    "Could not fetch URL https://pypi.org/simple/numpy/: There was a problem confirming the ssl "
    "certificate: HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded with url: "
    f"/simple/numpy/ (Caused by {_SSL_ERROR}) - skipping",
    *_PIP_GIVES_UP,
)
PIP_DNS = output(
    f"{_RETRY}'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at "
    "0x7f2e>: Failed to establish a new connection: [Errno -3] Temporary failure in name "
    "resolution')': /simple/numpy/",
    *_PIP_GIVES_UP,
)


@pytest.mark.parametrize("text", [PIP_CERT, PIP_DNS], ids=["pip-cert", "pip-dns"])
def test_pip_network_failure_is_an_infrastructure_error(text: str) -> None:
    assert classify_install_failure(text)[0] is Status.ERROR


def test_resolver_conflict_naming_a_tls_project_is_a_failure() -> None:
    assert classify_install_failure(UV_CONFLICT.replace("wmcolla", "tls-client"))[0] is Status.FAILED


def test_find_links_mount_path_changes_when_a_wheel_is_rebuilt(tmp_path: Path) -> None:
    """uv caches flat-index wheels by URL: a rebuilt wheel at the same path must get a new one."""
    import os

    from wheelmatrix.cell.install import FIND_LINKS_DIR, find_links_targets

    wheel = tmp_path / "a-1.0-py3-none-any.whl"
    wheel.write_bytes(b"one")
    ((first, where),) = find_links_targets([tmp_path])
    assert first.startswith(f"{FIND_LINKS_DIR}/0-") and where == tmp_path.resolve()
    assert find_links_targets([tmp_path])[0][0] == first  # stable while nothing changes
    wheel.write_bytes(b"two!")
    os.utime(wheel, ns=(1, 1))
    assert find_links_targets([tmp_path])[0][0] != first
