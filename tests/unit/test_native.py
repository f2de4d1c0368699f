"""The compiled parts: the body builder (`streamer._native`) builds the same bytes as its
pure-Python reference for any entries, compiled modules run only while fresh, and STREAMER_PURE
forces the pure path for all of them."""

from __future__ import annotations

import importlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streamer
from streamer import _compiled, batcher, wire
from streamer.aggregate import Aggregate
from streamer.record import Entry

CC = (sysconfig.get_config_var("CC") or "cc").split()[0]
needs_compiler = pytest.mark.skipif(
    shutil.which(CC) is None, reason="no C compiler: everything runs as Python"
)


def run_pure(script: str) -> bytes:
    """The standard output of `script` run by a fresh interpreter with STREAMER_PURE=1."""
    env = {**os.environ, _compiled.PURE_ENV: "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True, timeout=60
    )
    return done.stdout


def native() -> ModuleType:
    """The compiled module (built wherever a C compiler is)."""
    return importlib.import_module("streamer._native")


KEYS = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)
ESCAPES = st.text(st.sampled_from('\x00\x01\x08\t\n\x0b\x0c\r\x1f "\\/\x7f\u2028é😀'), max_size=8)
PREFIXES = st.sampled_from([b"", b'{"StreamName":"s","Records":[', b'{"StreamARN":"a","Records":['])


def entry(data: bytes, key: str, line_no: int = 1) -> Entry:
    return Entry(data, key, source="t", line_no=line_no, now=0.0)


def entries_from(records: Sequence[tuple[bytes, str, int]]) -> list[Entry]:
    """Plain entries, with each record whose group is 0 packed with its neighbours into an
    aggregate (which carries an explicit hash key)."""
    out: list[Entry] = []
    for i, (data, key, group) in enumerate(records):
        plain = entry(data, key, i + 1)
        if group == 0 and out and type(out[-1]) is Entry:
            out[-1] = Aggregate([out[-1], plain])
        else:
            out.append(plain)
    return out


@needs_compiler
@settings(max_examples=300, deadline=None)
@given(
    PREFIXES,
    st.lists(
        st.tuples(st.binary(max_size=70), KEYS | ESCAPES.filter(bool), st.integers(0, 3)),
        max_size=25,
    ),
)
def test_compiled_body_is_the_pure_body(
    prefix: bytes, records: list[tuple[bytes, str, int]]
) -> None:
    """Any data (empty too), any valid Unicode key, plain records and aggregates: the same bytes."""
    entries = entries_from(records)
    assert native().records_body(prefix, entries) == wire.records_body(prefix, entries)


@needs_compiler
def test_compiled_body_escapes_like_orjson() -> None:
    """Every control character, quote and backslash in a key is escaped as orjson escapes it."""
    key = "".join(map(chr, range(0x20))) + '"\\\x7f\u2028é😀'
    body = native().records_body(b"", [entry(b"", key), entry(b"\x00\xff", "k")])
    assert body == wire.records_body(b"", [entry(b"", key), entry(b"\x00\xff", "k")])
    assert orjson.loads(b"[" + body[:-2] + b"]")[0]["PartitionKey"] == key


def every_length(limit: int = 160) -> list[Entry]:
    """One entry per data length up to `limit` and a few long ones, each of varied bytes: every
    position of the 24-byte vector blocks and of the scalar tail after them."""
    lengths = [*range(limit), 1000, 4096 + 5]
    return [entry(bytes((7 * i + n) % 256 for i in range(n)), "k") for n in lengths]


@needs_compiler
def test_compiled_base64_is_binascii_at_every_length() -> None:
    """Whichever base64 path this CPU takes, each length encodes as binascii does."""
    entries = every_length()
    assert native().records_body(b"", entries) == wire.records_body(b"", entries)


@needs_compiler
def test_the_portable_base64_gives_the_same_body() -> None:
    """With STREAMER_NO_SIMD set, a fresh process takes the table path (the path of a CPU
    without AVX2) and builds the same bytes."""
    script = (
        "import sys\n"
        "from streamer import _native\n"
        "from tests.unit.test_native import every_length\n"
        "sys.stdout.buffer.write(_native.SIMD.encode() + b'|' + "
        "_native.records_body(b'', every_length()))\n"
    )
    env = {**os.environ, "STREAMER_NO_SIMD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, check=True, timeout=60
    )
    assert done.stdout == b"|" + wire.records_body(b"", every_length())


@needs_compiler
@pytest.mark.skipif(
    platform.machine() != "x86_64" or not Path("/proc/cpuinfo").exists(),
    reason="reads the CPU's flags from Linux on x86-64",
)
def test_the_vector_path_is_taken_where_the_cpu_has_avx2() -> None:
    """Without STREAMER_NO_SIMD the builder takes AVX2 exactly when the CPU has it (a build
    that lost the vector path would pass every other test on the table)."""
    flags = Path("/proc/cpuinfo").read_text().split()
    vector = "avx2" in flags and os.environ.get("STREAMER_NO_SIMD") is None
    simd: str = native().SIMD
    assert simd == ("avx2" if vector else "")


class Loose:
    """An entry-shaped object whose fields may hold anything."""

    explicit_hash_key: object = None

    def __init__(self, data: object, partition_key: object) -> None:
        self.data = data
        self.partition_key = partition_key


class Open:
    """An entry-like object with a `__dict__`: its explicit hash key may be its own or its
    class's, and its data a property."""

    explicit_hash_key: str | None = None

    def __init__(self, data: bytes, partition_key: str) -> None:
        self._data = data
        self.partition_key = partition_key

    @property
    def data(self) -> bytes:
        return self._data


class Shadowing(Open):
    def __getattribute__(self, name: str) -> object:
        if name == "partition_key":
            return "shadowed"
        return super().__getattribute__(name)


@needs_compiler
def test_compiled_body_reads_attributes_as_getattr_does() -> None:
    """Whatever the entries' types (getters, slots, a class attribute an instance shadows, a
    property, __getattribute__), mixed in one call: the same bytes as the pure builder."""
    own = Open(b"own", "k2")
    own.explicit_hash_key = "42"
    mixed: list[Any] = [
        entry(b"plain", "k1"),
        Open(b"class", "k1"),
        own,
        Shadowing(b"odd", "k3"),
        Aggregate([entry(b"a", "a"), entry(b"b", "b")]),
        entry(b"plain again", "k4"),
        Loose(b"loose", "k5"),
    ]
    body = native().records_body(b"[", mixed)
    assert body == wire.records_body(b"[", mixed)
    assert b'"ExplicitHashKey":"42"' in body
    assert b'"PartitionKey":"shadowed"' in body


@needs_compiler
def test_compiled_body_refuses_what_is_not_an_entry() -> None:
    """Data that is not bytes or a key that is not text is a TypeError and a missing field an
    AttributeError (as in the pure builder), never a malformed body."""
    with pytest.raises(TypeError, match="bytes"):
        native().records_body(b"", [Loose("text", "k")])
    with pytest.raises(TypeError, match="str"):
        native().records_body(b"", [Loose(b"x", 1)])
    with pytest.raises(AttributeError):
        native().records_body(b"", [object()])


@needs_compiler
def test_the_compiled_path_is_used_when_built() -> None:
    """Unless STREAMER_PURE is set, the wire format uses the compiled builder."""
    if _compiled.pure_forced():
        pytest.skip("the pure path is forced in this run")
    assert wire.COMPILED


def test_streamer_pure_forces_the_pure_path() -> None:
    """With STREAMER_PURE=1 a fresh process uses the pure builder and the compiled modules'
    sources, and builds the same body."""
    script = (
        "import sys, importlib\n"
        "from streamer import _compiled, wire\n"
        "for name in _compiled.COMPILED:\n"
        "    assert importlib.import_module('streamer.' + name).__file__.endswith('.py'), name\n"
        "from streamer.record import Entry\n"
        "entries = [Entry(b'\\x00data', 'k\\u00e9\\n', 't', 1, 0.0)]\n"
        "sys.stdout.buffer.write(b'%d' % wire.COMPILED + wire.encode_put_records('s', entries))\n"
    )
    expected = wire.encode_put_records("s", [entry(b"\x00data", "k\u00e9\n")])
    assert run_pure(script) == b"0" + expected


@needs_compiler
def test_compiled_modules_run_where_a_compiler_is() -> None:
    """With a C compiler, the install compiles the hot modules and they run compiled (this
    fails when one no longer compiles with mypyc, or its source changed since the install:
    `pip install -e .`, or `./scripts/test.sh`, rebuilds)."""
    if _compiled.pure_forced():
        pytest.skip("the pure path is forced in this run")
    assert streamer.MODULES_COMPILED, "compiled modules missing or stale: pip install -e ."
    assert not batcher.__file__.endswith(".py")


def test_a_build_older_than_a_source_is_stale(tmp_path: Path) -> None:
    """An extension counts only while it is newer than each of its sources (and exists)."""
    suffix = EXTENSION_SUFFIXES[0]
    (tmp_path / "a.py").write_text("")
    (tmp_path / "b.py").write_text("")
    assert not _compiled.fresh("lib", ["a.py"], directory=str(tmp_path))
    (tmp_path / f"lib{suffix}").write_bytes(b"")
    os.utime(tmp_path / "a.py", (1000, 1000))
    os.utime(tmp_path / "b.py", (3000, 3000))
    os.utime(tmp_path / f"lib{suffix}", (2000, 2000))
    assert _compiled.fresh("lib", ["a.py"], directory=str(tmp_path))
    assert not _compiled.fresh("lib", ["a.py", "b.py"], directory=str(tmp_path))
    assert not _compiled.fresh("lib", ["a.py", "missing.py"], directory=str(tmp_path))


# -- found by review: each differed from the pure builder, or read freed memory, before its fix


@needs_compiler
def test_a_class_attribute_rebound_mid_call_is_read_anew() -> None:
    """A read by name runs Python code, which may rebind a class attribute: later entries see
    the new value, as with getattr."""

    def kind() -> type:
        class Rebinding:
            __slots__ = ("_key", "data")
            explicit_hash_key: str | None = "111"

            def __init__(self, data: bytes, key: str) -> None:
                self.data, self._key = data, key

            @property
            def partition_key(self) -> str:
                if self._key == "flip":
                    type(self).explicit_hash_key = "222"
                return self._key

        return Rebinding

    first, second = kind(), kind()
    body = native().records_body(b"[", [first(b"a", "flip"), first(b"b", "k")])
    assert body == wire.records_body(b"[", [second(b"a", "flip"), second(b"b", "k")])
    assert b'"ExplicitHashKey":"222"' in body


@needs_compiler
def test_a_getter_of_another_type_is_refused_as_getattr_refuses_it() -> None:
    class Impostor:
        __slots__ = tuple(f"s{i}" for i in range(16))
        data = Entry.__dict__["data"]  # Entry's descriptor, on a type that is not an Entry
        partition_key = "k"
        explicit_hash_key = None

        def __init__(self) -> None:
            for i in range(16):
                setattr(self, f"s{i}", b"slot%d" % i)

    with pytest.raises(TypeError, match="doesn't apply"):
        wire.records_body(b"[", [Impostor()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="doesn't apply"):
        native().records_body(b"[", [Impostor()])


@needs_compiler
def test_entries_changed_by_a_read_are_read_as_they_were() -> None:
    """The builder reads a copy of the entries: a read that clears the caller's list neither
    changes the body nor reads freed memory."""
    entries: list[Any] = []

    class Clearing:
        __slots__ = ("_key", "data")
        explicit_hash_key = None

        def __init__(self, data: bytes, key: str) -> None:
            self.data, self._key = data, key

        @property
        def partition_key(self) -> str:
            if self._key == "clear":
                entries.clear()
            return self._key

    entries += [Clearing(b"a", "clear"), *(Clearing(b"%d" % i, "k") for i in range(8))]
    body = native().records_body(b"[", entries)
    assert body.count(b'"PartitionKey"') == 9
