"""The compiled byte scans (`streamer._scan`) and hash key (`streamer._hashkey`) give what
their pure references give, for any bytes, and the framing, the exporter and the entries use
them where they are built; the frozen dataclasses of compiled modules copy and pickle."""

from __future__ import annotations

import copy
import hashlib
import importlib
import pickle
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer import _compiled, export, record
from streamer.accumulator import BatchLimits
from streamer.export import Activation, Segment
from streamer.shard_map import Shard
from streamer.sources import lines
from tests.unit.test_native import needs_compiler, run_pure

# Bytes made mostly of the ones the scans look for, so that newlines, tabs and separators land
# at the edges, next to each other and at chunk boundaries.
SCANNED = st.binary(max_size=200) | st.lists(
    st.sampled_from([b"\n", b"\t", b" ", b":", b",", b": ", b", ", b"a", b"\xff", b"{}"]),
    max_size=60,
).map(b"".join)


def scan() -> ModuleType:
    return importlib.import_module("streamer._scan")


@needs_compiler
@settings(max_examples=400, deadline=None)
@given(SCANNED, SCANNED)
def test_compiled_split_is_the_pure_split(head: bytes, data: bytes) -> None:
    """The same parts (the carried tail joined to the first) and the same longest length."""
    assert scan().split_lines(head, data) == lines.split_lines(head, data)


def test_pure_split_is_bytes_split() -> None:
    """The reference itself: `bytes.split` of the joined bytes, longest of all parts but the
    last (which is the unfinished tail)."""
    assert lines.split_lines(b"ab", b"c\n\nde\nf") == ([b"abc", b"", b"de", b"f"], 3)
    assert lines.split_lines(b"", b"") == ([b""], 0)
    assert lines.split_lines(b"abcdef", b"") == ([b"abcdef"], 0)
    assert lines.split_lines(b"", b"xy\n") == ([b"xy", b""], 2)


@needs_compiler
def test_compiled_split_at_chunk_edges() -> None:
    """A tail without a newline, a newline first and last, and a long tail: as the reference."""
    cases = [
        (b"", b"no newline"),
        (b"tail", b"\n"),
        (b"tail", b"more"),
        (b"", b"\n\n\n"),
        (b"x" * 70_000, b"y\nz"),
        (b"", b"a" * 100_000 + b"\n" + b"b" * 5),
    ]
    for head, data in cases:
        assert scan().split_lines(head, data) == lines.split_lines(head, data), (head, data)


@needs_compiler
def test_compiled_split_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        scan().split_lines("text", b"")
    with pytest.raises(TypeError, match="bytes"):
        scan().split_lines(b"", bytearray(b"x\n"))


@needs_compiler
@settings(max_examples=400, deadline=None)
@given(SCANNED)
def test_compiled_shape_is_the_pure_shape(line: bytes) -> None:
    assert scan().shape(line) == export.shape(line)


@needs_compiler
def test_compiled_shape_at_every_position_of_its_16_byte_steps() -> None:
    """A non-ASCII byte, a line feed, a tab or a spaced separator at each position of a line
    of every length up to 70: in a vector step or in the scalar tail after them."""
    for length in range(70):
        base = b"a" * length
        assert scan().shape(base) == export.shape(base) == 0
        for at in range(length):
            for byte in (b"\x80", b"\xff", b"\n", b"\t", b" "):
                line = base[:at] + byte + base[at + 1 :]
                assert scan().shape(line) == export.shape(line), (line, at)
            if at:
                for sep in (b": ", b", "):
                    line = (base[: at - 1] + sep + base[at + 1 :])[:length]
                    assert scan().shape(line) == export.shape(line), (line, at)


@needs_compiler
def test_compiled_shape_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        scan().shape("text")


def test_pure_shape_answers_both_questions() -> None:
    assert export.shape(b'{"a":1}') == 0
    assert export.shape(b'{"a":"\xc3\xa9"}') == export.NON_ASCII
    assert export.shape(b'{"a": 1}') == export.SPACED
    assert export.shape(b'{"a":\t"\xc3\xa9"}') == export.NON_ASCII | export.SPACED


def test_pure_spaced_finds_each_kind() -> None:
    assert export.spaced(b'{"a":1,\n"b":2}')
    assert export.spaced(b'{"a":\t1}')
    assert export.spaced(b'{"a": 1}')
    assert export.spaced(b'{"a":1, "b":2}')
    assert not export.spaced(b'{"a":"x y","b":" z"}')
    assert not export.spaced(b" ")


@needs_compiler
def test_framing_and_export_use_the_compiled_scans() -> None:
    """Where built (and STREAMER_PURE unset) the hot paths call the C scans."""
    if _compiled.pure_forced():
        pytest.skip("the pure path is forced in this run")
    assert lines._split is scan().split_lines
    assert lines.COMPILED
    assert export._shape is scan().shape


def test_streamer_pure_uses_the_references() -> None:
    """With STREAMER_PURE=1 a fresh process frames and checks with the pure functions."""
    script = (
        "from streamer import export\n"
        "from streamer.sources import lines\n"
        "assert lines._split is lines.split_lines and not lines.COMPILED\n"
        "assert export._shape is export.shape\n"
        "from streamer import record\n"
        "assert record._hash_key is record.hash_key and not record.HASH_KEY_COMPILED\n"
        "print(lines.LineSplitter(10).feed(b'a\\nbb\\n' + b'c' * 11 + b'\\nd'))\n"
    )
    assert run_pure(script).decode().strip() == (
        "[b'a', b'bb', Overlong(preview=b'ccccccccccc', size=11)]"
    )


# Any text (one block, the padding's edge at 55/56 bytes, several blocks; ASCII, which is hashed
# as its own bytes, and not), and lengths 0-199 of ASCII and of two-byte characters.
KEYS = st.text(st.characters(exclude_categories=["Cs"]), max_size=300) | st.text(
    st.characters(max_codepoint=127), max_size=300
)


@needs_compiler
@settings(max_examples=300, deadline=None)
@given(KEYS)
def test_compiled_hash_key_is_the_pure_hash_key(key: str) -> None:
    hashkey = importlib.import_module("streamer._hashkey")
    assert hashkey.hash_key(key) == record.hash_key(key)


@needs_compiler
def test_compiled_hash_key_at_every_block_edge() -> None:
    hashkey = importlib.import_module("streamer._hashkey")
    for n in range(200):
        for key in ("".join(chr(33 + (13 * i + n) % 90) for i in range(n)), "é" * n):
            expected = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
            assert hashkey.hash_key(key) == expected, (n, key)
    assert hashkey.hash_key("") == 0xD41D8CD98F00B204E9800998ECF8427E  # RFC 1321's MD5("")
    assert hashkey.hash_key("a") == 0x0CC175B9C0F1B6A831C399E269772661  # and MD5("a")
    with pytest.raises(TypeError, match="str"):
        hashkey.hash_key(b"bytes")
    with pytest.raises(UnicodeEncodeError):  # as str.encode
        hashkey.hash_key("\ud800")


@needs_compiler
def test_entries_are_routed_by_the_compiled_hash_key() -> None:
    if _compiled.pure_forced():
        pytest.skip("the pure path is forced in this run")
    assert record._hash_key is importlib.import_module("streamer._hashkey").hash_key
    assert record.HASH_KEY_COMPILED
    for key in ("ecid-1", "ecid-é-1"):
        entry = record.Entry(b"{}", key, "t", 1, 0.0)
        assert entry.hash_key == record.hash_key(key)
        assert entry.size == 2 + len(key.encode())


@pytest.mark.parametrize(
    "value",
    [
        Activation(segments={"s": Segment("s", "Name", {"createdAt": 1})}, attributes=("a.b",)),
        Segment("s"),
        Shard("shardId-000000000000", 0, 2**128 - 1),
        BatchLimits(max_records=7, aggregation_bytes=1000),
    ],
    ids=["activation", "segment", "shard", "batch-limits"],
)
def test_frozen_dataclasses_copy_and_pickle(value: object) -> None:
    """Compiled or not, a frozen dataclass of a hot module copies and pickles to an equal value
    (mypyc's build drops the state functions the default reduction needs on a frozen class)."""
    assert copy.copy(value) == value
    assert copy.deepcopy(value) == value
    assert pickle.loads(pickle.dumps(value)) == value
