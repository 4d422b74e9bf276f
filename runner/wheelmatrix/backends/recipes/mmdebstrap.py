"""The mmdebstrap recipe: the argv that builds a Debian root file system tarball on the host.

The suite, packages and components come from a catalog, which may be someone else's file; the
catalog loader accepts only names there, this module checks them again and ends the options
with `--`, so none of them can become an mmdebstrap option (`--customize-hook=...` runs a
command as the runner's user, root in CI).
"""

from __future__ import annotations

from pathlib import Path

from wheelmatrix.config.catalog import DEBIAN_ARCH, Recipe, mmdebstrap_names_ok
from wheelmatrix.errors import InputError


def mmdebstrap_argv(recipe: Recipe, arch: str, tarball: Path, mirror: str) -> list[str]:
    """`mmdebstrap OPTIONS -- SUITE TARGET SOURCE` for a minimal image with the recipe's packages
    (`mirror` is the host's own configuration: the apt sources or WHEELMATRIX_DEBIAN_MIRROR)."""
    if not mmdebstrap_names_ok(recipe):
        raise InputError(
            f"mmdebstrap recipe for suite {recipe.suite!r}: the suite, packages or components are not "
            "Debian names; refusing to pass them to mmdebstrap",
            hint="fix the distro catalog's recipe",
        )
    source = f"deb {mirror} {recipe.suite} {' '.join(recipe.components)}"
    return [
        "mmdebstrap",
        "--variant=minbase",
        "--quiet",
        f"--architectures={DEBIAN_ARCH[arch]}",
        f"--include={','.join(recipe.packages)}",
        "--format=tar",
        "--",
        recipe.suite,
        str(tarball),
        source,
    ]
