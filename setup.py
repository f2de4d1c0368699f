"""Build configuration beyond pyproject.toml: the optional compiled module.

`streamer._native` (streamer/_native.c) is built when a C compiler and the Python headers are
there; when it cannot be built the install still succeeds and the pure-Python path is used.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "streamer._native",
            ["streamer/_native.c"],
            optional=True,  # a failed build skips it: streamer.wire falls back to pure Python
        )
    ]
)
