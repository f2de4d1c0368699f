"""Which compiled modules run: the built ones that are up to date, unless STREAMER_PURE is set.

What it does: names the pure modules that `setup.py` compiles with mypyc (`COMPILED`, one shared
library) and, at package import, decides whether those compiled builds are used: only when
every one of them is newer than every compiled module's source (an edited source makes the
whole set stale: the compiled classes refer to each other) and STREAMER_PURE is not set.
Otherwise a finder placed first on `sys.meta_path` imports those modules from their `.py` files.
The same freshness rule decides, through `twin`, whether a hand-written C twin (`C_TWINS`: the
body builder, the line scans, the hash key, the head reader) replaces its pure reference.

What it leaves out: building (`setup.py`; `scripts/_venv.sh` reinstalls when a compiled
module's source changes) and anything the compiled code does (the modules are the same source).
This module imports only the standard library: `setup.py` reads `COMPILED` from it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES, ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType
from typing import Any, Final, TypeVar

T = TypeVar("T")

PURE_ENV: Final = "STREAMER_PURE"
"""Set (to anything but 0) to run every module from its Python source."""
COMPILED: Final = (
    "record",
    "batcher",
    "aggregate",
    "accumulator",
    "settle",
    "ingest",
    "sources.lines",
    "shard_map",
    "export",
)
"""The modules compiled by mypyc, relative to the package (with `aggregate`, whose class
subclasses `record.Entry`: a compiled class cannot be subclassed by an interpreted one)."""
C_TWINS: Final = ("_native.c", "_scan.c", "_hashkey.c", "_head.c")
"""The hand-written C extensions, each the twin of pure functions (see `twin`)."""
GROUP_LIB: Final = "_hot__mypyc"
"""Their shared library, in the package directory."""

PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__))


def pure_forced() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def fresh(module: str, sources: Sequence[str], directory: str = PACKAGE_DIR) -> bool:
    """Whether the extension `module` (a path under `directory`, without suffix) is built and
    newer than every one of `sources` (paths under `directory`)."""
    base = os.path.join(directory, module)
    built = next(
        (t for t in map(_mtime, (base + suffix for suffix in EXTENSION_SUFFIXES)) if t), None
    )
    if built is None:
        return False
    for source in sources:
        changed = _mtime(os.path.join(directory, source))
        if changed is None or changed > built:
            return False
    return True


def twin(module: str, name: str, pure: T) -> T:
    """`name` from the hand-written C extension `module` (built from `module`.c in the package)
    when it is built from the current source and STREAMER_PURE is unset; else `pure`, its
    reference."""
    if pure_forced() or not fresh(module, [module + ".c"]):
        return pure
    try:
        compiled: T = getattr(importlib.import_module(f"streamer.{module}"), name)
    except (ImportError, AttributeError):  # built for another Python, say: the pure path
        return pure
    return compiled


def frozen_reduce(obj: Any) -> tuple[type[Any], tuple[Any, ...]]:
    """`__reduce__` of a frozen dataclass in a compiled module: its class and its fields, so its
    instances copy and pickle through the constructor. mypyc's build of the class drops the
    state functions `dataclasses` gives a frozen, slotted class, and the default reduction then
    sets each field on the copy, which a frozen class refuses."""
    return type(obj), tuple(getattr(obj, field.name) for field in dataclasses.fields(obj))


def _source_of(name: str) -> str:
    return name.replace(".", os.sep) + ".py"


class SourceFirst:
    """A meta path finder that imports the compiled modules from their `.py` sources."""

    def __init__(self, package: str) -> None:
        self._names = {f"{package}.{name}": _source_of(name) for name in COMPILED}

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        source = self._names.get(fullname)
        if source is None:
            return None
        return spec_from_file_location(fullname, os.path.join(PACKAGE_DIR, source))


def choose(package: str) -> bool:
    """Whether the compiled modules run; if not, make their imports load the sources."""
    if not pure_forced() and fresh(GROUP_LIB, [_source_of(name) for name in COMPILED]):
        return True
    sys.meta_path.insert(0, SourceFirst(package))
    return False


def build_inputs() -> list[str]:
    """The files a rebuild depends on, relative to the package (for `scripts/_venv.sh`)."""
    return ["_compiled.py", *C_TWINS, *(_source_of(name) for name in COMPILED)]


if __name__ == "__main__":  # `python streamer/_compiled.py`: the build inputs, one a line
    print("\n".join(os.path.join(PACKAGE_DIR, path) for path in build_inputs()))
