"""The catalog's registry rows against what their images contain (tests/unit/data/recorded-images.yaml,
recorded from the images' published contents), and the manylinux floor rows against policy.json."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import stat
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from wheelmatrix.config.catalog import Catalog, Distro, default_catalog_path, load_catalog
from wheelmatrix.scan.policy import POLICY_FILE

RECORDED = Path(__file__).parent / "data" / "recorded-images.yaml"
UV_OLDEST_PYTHON = (3, 8)  # uv drives CPython 3.8 and later
PACKAGE_MANAGERS = {"apt-get", "apt", "dnf", "dnf5", "microdnf", "yum", "apk", "zypper"}
CENTOS_REPO_FILE = "/etc/yum.repos.d/CentOS-Base.repo"
# the manylinux floors: the distro a policy was derived from is the oldest it promises to run on
FLOORS = [("centos-7", "manylinux2014"), ("almalinux-8", "manylinux_2_28"), ("almalinux-9", "manylinux_2_34")]


@cache
def catalog() -> Catalog:
    return load_catalog(default_catalog_path())


@cache
def recorded() -> dict[str, Any]:
    data = yaml.safe_load(RECORDED.read_text())
    assert data["schema"] == 1
    images: dict[str, Any] = data["images"]
    return images


def fact(ref: str, arch: str) -> dict[str, Any]:
    """The recorded facts of image REF for ARCH (by_arch values override the common ones)."""
    base = dict(recorded()[ref])
    for key, value in base.pop("by_arch", {}).get(arch, {}).items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and key in base else value
    return base


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def registry_cells() -> list[tuple[str, str]]:
    return [(d.id, arch) for d in catalog().distros.values() for arch in d.archs if arch in d.images]


CELLS = registry_cells()
CELL_IDS = [f"{distro_id}/{arch}" for distro_id, arch in CELLS]


def commands(script: str) -> list[list[str]]:
    """The simple commands of an install script (joined by &&), as argv lists."""
    return [shlex.split(part) for part in script.split("&&") if part.strip()]


def program(argv: list[str]) -> str:
    """The program a simple command runs, past leading VAR=value assignments."""
    words = [w for w in argv if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", w)]
    return os.path.basename(words[0]) if words else ""


def test_catalog_loads() -> None:
    cat = load_catalog(default_catalog_path())
    assert cat.distros, "the shipped catalog has no distros"
    for distro_id in ("centos-7", "almalinux-8", "almalinux-9"):
        assert cat.get(distro_id).id == distro_id


def test_every_registry_image_is_recorded_and_nothing_else() -> None:
    named = {d.images[arch] for d in catalog().distros.values() for arch in d.images}
    assert named == set(recorded())


def test_recorded_file_says_it_was_not_observed_here() -> None:
    header = RECORDED.read_text().split("\nschema:")[0]
    assert "NOT OBSERVED ON THIS MACHINE" in header
    for ref in recorded():
        assert ref in header, f"the header does not name the version of {ref}"


@pytest.mark.parametrize("distro_id, arch", CELLS, ids=CELL_IDS)
def test_install_script_runs_with_the_images_shell_and_package_manager(distro_id: str, arch: str) -> None:
    distro = catalog().get(distro_id)
    facts = fact(distro.images[arch], arch)
    assert facts["bin_sh"]["present"] is True, "the preparation runs the script with /bin/sh -c"
    used = {program(argv) for argv in commands(distro.family.install_script())} & PACKAGE_MANAGERS
    assert used, f"{distro_id}: the install script calls no package manager"
    assert used == {facts["package_manager"]["name"]}, (
        f"{distro_id}: the script calls {sorted(used)}, the image has {facts['package_manager']['name']}"
    )
    assert facts["package_manager"]["name"] not in facts["package_manager"].get("absent", [])


@pytest.mark.parametrize("distro_id, arch", CELLS, ids=CELL_IDS)
def test_family_packages_provide_the_python_executable(distro_id: str, arch: str) -> None:
    distro = catalog().get(distro_id)
    install = fact(distro.images[arch], arch)["install"]
    # the recorded Python is what these exact packages install: a changed list needs a new record
    assert list(distro.family.python_packages) == install["packages"]
    assert distro.python_executable == install["python"]["path"]
    assert distro.python == install["python"]["version"]
    assert install["venv"] is True, f"{distro_id}: `{distro.python_executable} -m venv` would fail"


@pytest.mark.parametrize("distro_id, arch", CELLS, ids=CELL_IDS)
def test_python_executable_is_not_an_other_python_of_the_image(distro_id: str, arch: str) -> None:
    distro = catalog().get(distro_id)
    before = fact(distro.images[arch], arch)["python_before"]
    if before is not None and before["path"] == distro.python_executable:
        assert before["version"] == distro.python


@pytest.mark.parametrize("distro_id", sorted({d for d, _ in CELLS}))
def test_supports_uv_is_false_exactly_below_what_uv_drives(distro_id: str) -> None:
    distro = catalog().get(distro_id)
    assert distro.supports_uv is (distro.python_version >= UV_OLDEST_PYTHON)


def test_supports_uv_false_where_expected() -> None:
    no_uv = {d.id for d in catalog().distros.values() if not d.supports_uv}
    assert no_uv == {"centos-7"}


@pytest.mark.parametrize("distro_id, arch", CELLS, ids=CELL_IDS)
def test_libc_and_libstdcxx_match_the_image(distro_id: str, arch: str) -> None:
    distro = catalog().get(distro_id)
    facts = fact(distro.images[arch], arch)
    assert distro.libc.family == facts["libc"]["family"]
    assert distro.libc.version == version(facts["libc"]["version"])
    cxx = facts["libstdcxx"]
    if cxx is None:
        assert not distro.cxx, f"{distro_id}: cxx set, but the prepared image has no libstdc++"
    else:
        assert dict(distro.cxx) == {"GLIBCXX": cxx["GLIBCXX"], "CXXABI": cxx["CXXABI"]}


@pytest.mark.parametrize("distro_id, arch", CELLS, ids=CELL_IDS)
def test_os_release_matches_the_id(distro_id: str, arch: str) -> None:
    distro = catalog().get(distro_id)
    os_release = fact(distro.images[arch], arch)["os_release"]
    family_id, _, release = distro_id.partition("-")
    assert os_release["ID"] == family_id
    have, want = os_release["VERSION_ID"].split("."), release.split(".")
    n = min(len(have), len(want))
    assert have[:n] == want[:n], f"{distro_id}: image VERSION_ID {os_release['VERSION_ID']}"


# --- CentOS 7: the repos must point at the vault before yum runs -------------------------------


def test_centos7_script_rewrites_both_arch_trees_before_installing() -> None:
    distro = catalog().get("centos-7")
    script = distro.family.install_script()
    install_at = script.index("yum install")
    for arch in distro.archs:
        root = fact(distro.images[arch], arch)["repos"]["vault_root"]
        assert root in script, f"the script never names {root} ({arch})"
        assert script.index(root) < install_at, f"{root} is set only after yum install runs"
    assert "http://vault.centos.org/altarch/7.9.2009" in script  # aarch64 lives under altarch
    assert 0 <= script.index(CENTOS_REPO_FILE) < install_at
    first_yum = min(i for i, argv in enumerate(commands(script)) if program(argv) == "yum")
    rewrite = next(i for i, argv in enumerate(commands(script)) if CENTOS_REPO_FILE in argv)
    assert rewrite < first_yum


def _fake_bin(where: Path, name: str, body: str) -> None:
    path = where / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_centos7_script_points_the_recorded_repo_file_at_the_vault(tmp_path: Path, arch: str) -> None:
    """Run the family's script with /bin/sh on the recorded CentOS-Base.repo (yum and uname faked):
    when yum first runs, every enabled repo has the vault baseurl and no mirrorlist."""
    distro = catalog().get("centos-7")
    repos = fact(distro.images[arch], arch)["repos"]
    repo_file = tmp_path / "CentOS-Base.repo"
    repo_file.write_text(repos["text"])
    fakes = tmp_path / "bin"
    fakes.mkdir()
    log, seen = tmp_path / "yum.log", tmp_path / "repo-at-yum"
    _fake_bin(fakes, "uname", f"echo {arch}\n")
    _fake_bin(fakes, "yum", f'echo "$*" >> {log}\n[ -e {seen} ] || cp {repo_file} {seen}\n')
    script = distro.family.install_script()
    assert CENTOS_REPO_FILE in script
    script = script.replace(CENTOS_REPO_FILE, str(repo_file))
    assert "/etc/" not in script and "/var/" not in script, "the test would touch the host"
    env = {"PATH": f"{fakes}:/usr/bin:/bin", "LC_ALL": "C"}
    proc = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert calls[0].startswith("install -y") and "python3" in calls[0].split()

    original = configparser.RawConfigParser(strict=True)
    original.read_string(repos["text"])
    at_yum = configparser.RawConfigParser(strict=True)
    at_yum.read_string(seen.read_text())
    assert set(at_yum.sections()) == set(original.sections())
    enabled = [s for s in at_yum.sections() if at_yum.get(s, "enabled", fallback="1") != "0"]
    assert sorted(enabled) == sorted(repos["enabled"])
    for section in at_yum.sections():
        component = re.search(r"[?&]repo=([a-z]+)", original.get(section, "mirrorlist"))
        assert component is not None
        assert not at_yum.has_option(section, "mirrorlist"), f"[{section}] still asks the dead mirrorlist"
        baseurl = at_yum.get(section, "baseurl")
        assert baseurl == f"{repos['vault_root']}/{component.group(1)}/$basearch/"
        assert at_yum.get(section, "gpgkey") == original.get(section, "gpgkey")
    assert at_yum.get("base", "baseurl").replace("$basearch", arch) == repos["vault_baseurl"]
    assert "mirrorlist.centos.org" not in seen.read_text().replace("#mirrorlist", "")


# --- the manylinux floors ----------------------------------------------------------------------


@cache
def manylinux_policies() -> dict[str, Any]:
    doc = json.loads(POLICY_FILE.read_text())
    policies: dict[str, Any] = doc["manylinux"]
    return policies


def policy_named(name: str) -> tuple[str, dict[str, Any]]:
    for key, policy in manylinux_policies().items():
        if name == key or name in policy.get("aliases", []):
            return key, policy
    raise AssertionError(f"{name} is not in {POLICY_FILE}")


@pytest.mark.parametrize("distro_id, tag", FLOORS)
def test_floor_rows_have_the_glibc_of_their_manylinux_floor(distro_id: str, tag: str) -> None:
    key, policy = policy_named(tag)
    match = re.fullmatch(r"manylinux_(\d+)_(\d+)", key)
    assert match, key
    floor = (int(match.group(1)), int(match.group(2)))
    distro = catalog().get(distro_id)
    assert (distro.libc.family, distro.libc.version) == ("glibc", floor)
    # on x86_64 the policy's GLIBC ceiling is the floor itself; auditwheel's aarch64 ceiling for
    # manylinux2014 is 2.18 (a symbol version CentOS 7's aarch64 glibc carries), never below
    assert version(policy["ceilings"]["x86_64"]["GLIBC"]) == floor
    for arch in distro.archs:
        assert version(policy["ceilings"][arch]["GLIBC"]) >= floor


@pytest.mark.parametrize("distro_id, tag", FLOORS)
def test_floor_rows_load_what_their_policy_admits(distro_id: str, tag: str) -> None:
    """The floor distro's libstdc++ is at least as new as what the policy lets a wheel need."""
    _, policy = policy_named(tag)
    distro = catalog().get(distro_id)
    for arch in distro.archs:
        ceilings = policy["ceilings"][arch]
        for namespace in ("GLIBCXX", "CXXABI"):
            assert version(distro.cxx[namespace]) >= version(ceilings[namespace]), (
                distro_id,
                arch,
                namespace,
            )


@pytest.mark.parametrize("distro_id, image", [("almalinux-8", "almalinux:8"), ("almalinux-9", "almalinux:9")])
def test_almalinux_rows(distro_id: str, image: str) -> None:
    distro: Distro = catalog().get(distro_id)
    assert distro.archs == ("x86_64", "aarch64")
    assert dict(distro.images) == {"x86_64": image, "aarch64": image}
    assert distro.family.name == "rhel"
    assert distro.supports_uv is True
    script = distro.family.install_script()
    assert "dnf install -y" in script and "dnf clean all" in script
    # not the platform Python (3.6 on EL8, 3.9 on EL9): AppStream's python3.12
    assert distro.python_executable == "/usr/bin/python3.12"
