"""Build configuration beyond pyproject.toml: the optional compiled modules.

- `streamer._native` (streamer/_native.c): the PutRecords body builder, hand-written C.
- `streamer._scan` (streamer/_scan.c): newline splitting and the compact-JSON check of input
  lines, hand-written C.
- `streamer._hashkey` (streamer/_hashkey.c): the MD5 hash key of a partition key, hand-written C.
- `streamer._head` (streamer/_head.c): the partition key of a line that is its own export record,
  in one validating pass, hand-written C.
- The hot pure modules in `COMPILED` compiled with mypyc from their own source (one shared
  library, `streamer/_hot__mypyc`), so the interpreter's per-record loops run as C.

They are built when a C compiler and the Python headers are there (and mypyc, a build
requirement); when they cannot be built the install still succeeds and the pure-Python modules
run. At run time `streamer/__init__.py` uses a compiled module only while it is newer than its
source, and never with STREAMER_PURE=1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sys.path.insert(0, str(Path(__file__).parent / "streamer"))
from _compiled import COMPILED  # the list, shared with streamer/__init__.py

GROUP = "streamer._hot"
"""The mypyc shared library holding every compiled module (the modules are thin shims)."""


def _mypyc_extensions() -> list[Extension]:
    try:
        from mypyc.build import mypycify  # noqa: PLC0415  (optional)
    except ImportError:  # no mypyc: the modules stay pure Python
        return []
    paths = [f"streamer/{name.replace('.', '/')}.py" for name in COMPILED]
    try:
        # Third-party packages are not in the build environment; only these modules' own code
        # is compiled, so their types may be unknown (Any) here.
        return mypycify(
            ["--ignore-missing-imports", "--follow-imports=silent", *paths],
            separate=[(paths, GROUP)],
            group_name=GROUP,
        )
    except (Exception, SystemExit) as exc:  # noqa: BLE001  (any failure: the pure path)
        print(f"warning: mypyc could not compile the hot modules: {exc}", file=sys.stderr)
        return []


class OptionalBuildExt(build_ext):
    """Builds what it can; drops a mypyc module whose shared library failed to build (a shim
    without its library would make the package fail to import); marks what it built as newer
    than the sources (an output left as it was, its C unchanged, is still built from them)."""

    def run(self) -> None:
        super().run()
        outputs = {ext.name: Path(self.get_ext_fullpath(ext.name)) for ext in self.extensions}
        lib = next((path for name, path in outputs.items() if name.endswith("__mypyc")), None)
        if lib is not None and not lib.exists():
            for name, path in outputs.items():
                if name.removeprefix("streamer.") in COMPILED:
                    path.unlink(missing_ok=True)
        for path in outputs.values():
            if path.exists():
                path.touch()


extensions = [
    Extension("streamer._native", ["streamer/_native.c"]),
    Extension("streamer._scan", ["streamer/_scan.c"]),
    Extension("streamer._hashkey", ["streamer/_hashkey.c"]),
    Extension("streamer._head", ["streamer/_head.c"]),
    *_mypyc_extensions(),
]
for extension in extensions:
    extension.optional = True  # a failed build skips it

setup(ext_modules=extensions, cmdclass={"build_ext": OptionalBuildExt})
