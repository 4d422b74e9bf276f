"""The distro catalog (distros.yaml) as frozen objects."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wheelmatrix.config._yaml import Node, load_yaml_file, value_kind
from wheelmatrix.config.limits import shown
from wheelmatrix.errors import InputError, did_you_mean

SCHEMA = 1  # the catalog format this version reads (distros.yaml `schema:`)
ARCHES = ("x86_64", "aarch64")
DOCKER_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
LIBC_FAMILIES = ("glibc", "musl")
RECIPE_TOOLS = ("mmdebstrap", "musl-python")
_VERSION = re.compile(r"^\d+\.\d+$")
# What an mmdebstrap recipe may name: these go into the host's `mmdebstrap` argv (run as root in
# CI), so a catalog from someone else must not be able to smuggle an option (`--customize-hook`)
# or another source line into it. Suites and codenames (bookworm, stable, bookworm-backports);
# package names after Debian policy 5.6.1, with an optional multiarch qualifier (`:arm64`,
# `:any`); archive components (main, non-free-firmware, updates/main).
_SUITE = re.compile(r"[a-z0-9][a-z0-9.-]*")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9][a-z0-9-]*)?")
_COMPONENT = re.compile(r"[a-z0-9][a-z0-9.-]*(/[a-z0-9][a-z0-9.-]*)*")
_RECIPE_NAMES = {
    "suite": (
        _SUITE,
        "a Debian suite name (lowercase letters, digits, '-' and '.', not starting with '-')",
        "name the suite as the Debian archive does: bookworm, trixie, stable, bookworm-backports",
    ),
    "packages": (
        _PACKAGE,
        "a Debian package name (lowercase letters, digits, '+', '-' and '.', at least two "
        "characters, starting with a letter or digit; optionally ':ARCH')",
        "list binary package names as apt-get install takes them, one per item: python3, python3-venv",
    ),
    "components": (
        _COMPONENT,
        "an archive component (lowercase letters, digits, '-', '.' and '/', starting with a letter or digit)",
        "name the archive components as in sources.list: main, contrib, non-free-firmware",
    ),
}


def parse_version(text: str, what: str) -> tuple[int, int]:
    if not _VERSION.match(text):
        raise InputError(f"{what}: '{text}' is not a MAJOR.MINOR version")
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass(frozen=True, kw_only=True)
class Libc:
    family: str
    version: tuple[int, int]

    def __str__(self) -> str:
        return f"{self.family} {self.version[0]}.{self.version[1]}"


@dataclass(frozen=True, kw_only=True)
class Family:
    """How a distro family installs Python and venv support into a registry image."""

    name: str
    python_packages: tuple[str, ...]
    install: tuple[str, ...]  # shell commands; {packages} is replaced by the package list

    def install_script(self, extra: tuple[str, ...] = ()) -> str:
        packages = " ".join((*self.python_packages, *extra))
        return " && ".join(cmd.replace("{packages}", packages) for cmd in self.install)


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """A local recipe to build the image without a registry."""

    tool: str
    suite: str = ""  # mmdebstrap: the Debian suite
    packages: tuple[str, ...] = ()  # mmdebstrap: packages to include
    components: tuple[str, ...] = ("main",)


@dataclass(frozen=True, kw_only=True)
class Distro:
    id: str
    name: str
    family: Family
    libc: Libc
    python: str
    python_executable: str
    archs: tuple[str, ...]
    images: Mapping[str, str] = field(default_factory=dict)  # arch -> registry reference
    recipe: Recipe | None = None
    supports_uv: bool = True
    cxx: Mapping[str, str] = field(default_factory=dict)  # GLIBCXX / CXXABI -> highest version

    def with_packages(self, extra: tuple[str, ...]) -> Distro:
        """This distro with more packages in its prepared image (e.g. gdb); a different image tag."""
        family = dataclasses.replace(self.family, python_packages=(*self.family.python_packages, *extra))
        recipe = (
            dataclasses.replace(self.recipe, packages=(*self.recipe.packages, *extra))
            if self.recipe
            else None
        )
        return dataclasses.replace(self, family=family, recipe=recipe)

    @property
    def symbol_versions(self) -> dict[str, str]:
        """Highest symbol version per namespace this distro's libc and libstdc++ provide."""
        out = dict(self.cxx)
        if self.libc.family == "glibc":
            out["GLIBC"] = f"{self.libc.version[0]}.{self.libc.version[1]}"
        return out

    @property
    def python_version(self) -> tuple[int, int]:
        return parse_version(self.python, f"{self.id}.python")


@dataclass(frozen=True, kw_only=True)
class Catalog:
    source: Path
    distros: Mapping[str, Distro]
    families: Mapping[str, Family] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()

    def get(self, distro_id: str) -> Distro:
        try:
            return self.distros[distro_id]
        except KeyError:
            raise InputError(
                f"unknown distro '{distro_id}'{did_you_mean(distro_id, self.distros)}",
                hint=f"known distros (from {' + '.join(map(str, self.sources or (self.source,)))}): "
                f"{', '.join(self.distros)}",
            ) from None


def _family(node: Node, name: str) -> Family:
    node.check_keys(["python_packages", "install"])
    install = node.texts("install")
    if not install:
        raise InputError(f"{node.source}: '{node.path('install')}' must list at least one command")
    return Family(name=name, python_packages=node.texts("python_packages"), install=install)


def _distro(node: Node, distro_id: str, families: Mapping[str, Family]) -> Distro:
    node.check_keys(
        ["name", "libc", "python", "archs"],
        ["family", "images", "recipe", "python_executable", "supports_uv", "cxx"],
    )
    fam = node.text("family") if node.has("family") else ""
    if not fam and node.has("images"):
        raise InputError(
            f"{node.source}: '{node.where}' has registry images and needs a 'family' "
            "(how to install Python into them)"
        )
    if fam and fam not in families:
        raise InputError(
            f"{node.source}: '{node.path('family')}': unknown family '{fam}'{did_you_mean(fam, families)}"
        )
    libc_node = node.child("libc")
    libc_node.check_keys(["family", "version"])
    libc_family = libc_node.text("family")
    if libc_family not in LIBC_FAMILIES:
        raise InputError(f"{node.source}: '{libc_node.path('family')}' must be one of {LIBC_FAMILIES}")
    libc = Libc(
        family=libc_family,
        version=parse_version(libc_node.text("version"), f"{node.source}: {libc_node.path('version')}"),
    )
    python = node.text("python")
    parse_version(python, f"{node.source}: {node.path('python')}")
    archs = node.texts("archs")
    for arch in archs:
        if arch not in ARCHES:
            raise InputError(
                f"{node.source}: '{node.path('archs')}': unknown arch '{arch}'{did_you_mean(arch, ARCHES)}"
            )
    images = node.text_map("images") if node.has("images") else {}
    for arch in images:
        if arch not in archs:
            raise InputError(f"{node.source}: '{node.path('images')}.{arch}' is not in archs")
    recipe = None
    if node.has("recipe"):
        rnode = node.child("recipe")
        tool = rnode.text("tool")
        if tool not in RECIPE_TOOLS:
            raise InputError(
                f"{node.source}: '{rnode.path('tool')}': unknown tool '{tool}'"
                f"{did_you_mean(tool, RECIPE_TOOLS)}"
                f"; known: {', '.join(RECIPE_TOOLS)}"
            )
        if tool == "mmdebstrap":
            rnode.check_keys(["tool", "suite", "packages"], ["components"])
            recipe = Recipe(
                tool=tool,
                suite=_recipe_name(rnode, distro_id, "suite", rnode.text("suite")),
                packages=tuple(
                    _recipe_name(rnode, distro_id, "packages", p, i)
                    for i, p in enumerate(rnode.texts("packages"))
                ),
                components=tuple(
                    _recipe_name(rnode, distro_id, "components", c, i)
                    for i, c in enumerate(rnode.texts("components", ("main",)))
                ),
            )
        else:  # musl-python: everything it builds is pinned in wheelmatrix/data/recipes/
            rnode.check_keys(["tool"], [])
            if libc.family != "musl":
                raise InputError(
                    f"{node.source}: '{rnode.path('tool')}': musl-python builds a musl userland; "
                    "set libc.family to musl"
                )
            recipe = Recipe(tool=tool)
    if not images and recipe is None:
        raise InputError(f"{node.source}: '{node.where}' needs 'images' or a 'recipe' (or both)")
    return Distro(
        id=distro_id,
        name=node.text("name"),
        family=families[fam] if fam else Family(name="recipe-only", python_packages=(), install=()),
        libc=libc,
        python=python,
        python_executable=node.text("python_executable", "/usr/bin/python3"),
        archs=archs,
        images=images,
        recipe=recipe,
        supports_uv=node.flag("supports_uv", True),
        cxx=_cxx(node),
    )


def _recipe_name(rnode: Node, distro_id: str, key: str, value: str, index: int | None = None) -> str:
    """`value` of the recipe's `key`, if it is a name mmdebstrap can only take as a name."""
    pattern, what, hint = _RECIPE_NAMES[key]
    if pattern.fullmatch(value):
        return value
    where = rnode.path(key) if index is None else rnode.item(key, index)
    raise rnode.error(
        key,
        f"distro '{distro_id}': '{where}' is {value!r}, which is not {what}; it would be passed to "
        "mmdebstrap, so the catalog is refused",
        hint=hint,
        index=index,
    )


def mmdebstrap_names_ok(recipe: Recipe) -> bool:
    """The recipe's suite, packages and components are names (what load_catalog checks; also
    checked where the argv is built, for recipes made in code)."""
    return (
        bool(_SUITE.fullmatch(recipe.suite))
        and all(_PACKAGE.fullmatch(p) for p in recipe.packages)
        and all(_COMPONENT.fullmatch(c) for c in recipe.components)
    )


def _cxx(node: Node) -> dict[str, str]:
    if not node.has("cxx"):
        return {}
    cxx = node.text_map("cxx")
    for key, value in cxx.items():
        if key not in ("GLIBCXX", "CXXABI"):
            raise InputError(f"{node.source}: '{node.path('cxx')}.{key}': only GLIBCXX and CXXABI are known")
        if not re.fullmatch(r"\d+(\.\d+)+", value):
            raise InputError(
                f"{node.source}: '{node.path('cxx')}.{key}': '{value}' is not a version like 3.4.30"
            )
    return cxx


def _names(node: Node, what: str) -> list[str]:
    """The keys of a mapping of named entries, each a string."""
    for key in node.value:
        if not isinstance(key, str):
            shown_key = shown(key) if isinstance(key, (int, float)) else value_kind(key)
            raise node.error(
                None,
                f"'{node.where}': the {what} {shown_key} must be a string",
                hint='quote it, e.g. "12"',
            )
    return list(node.value)


def load_catalog(path: Path, base: Catalog | None = None) -> Catalog:
    """Load a catalog file. With `base`, the file extends it: `families` may be omitted (the
    base's are used, the file's are added), a distro with a new id is added and one with an
    existing id replaces the base's entry."""
    root = Node(path, "", load_yaml_file(path))
    if base is None:
        root.check_keys(["families", "distros"], ["schema"])
    else:
        root.check_keys(["distros"], ["schema", "families"])
    if root.has("schema") and root.value["schema"] != SCHEMA:
        value = root.value["schema"]
        raise root.error(
            "schema",
            f"'schema' is {shown(value) if isinstance(value, (int, float)) else value_kind(value)}; this "
            f"wheelmatrix reads catalog schema {SCHEMA}",
            hint=f"write `schema: {SCHEMA}` (or leave it out), or upgrade wheelmatrix if the catalog "
            "was written for a newer one",
        )
    families: dict[str, Family] = dict(base.families) if base is not None else {}
    if root.has("families"):
        fam_root = root.child("families")
        for name in _names(fam_root, "family name"):
            families[name] = _family(fam_root.child(name), name)
    dist_root = root.child("distros")
    distros: dict[str, Distro] = dict(base.distros) if base is not None else {}
    if not dist_root.value:
        raise InputError(f"{path}: 'distros' is empty")
    for distro_id in _names(dist_root, "distro id"):
        if not re.fullmatch(r"[a-z][a-z0-9.-]*", distro_id):
            raise InputError(f"{path}: distro id '{distro_id}' must be lowercase letters, digits, '.', '-'")
        distros[distro_id] = _distro(dist_root.child(distro_id), distro_id, families)
    sources = (*base.sources, path) if base is not None else (path,)
    return Catalog(source=path, distros=distros, families=families, sources=sources)


def load_catalogs(extra: Path | None = None) -> Catalog:
    """The shipped catalog, extended or overridden by a user's file (`--catalog`, `catalog:`)."""
    catalog = load_catalog(default_catalog_path())
    return load_catalog(extra, base=catalog) if extra is not None else catalog


def default_catalog_path() -> Path:
    """The distro catalog shipped in the package (wheelmatrix/data/distros.yaml)."""
    from wheelmatrix.resources import data_path

    return data_path("distros.yaml")
