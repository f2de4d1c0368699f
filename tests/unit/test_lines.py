"""Line framing: lines across chunk boundaries, CRLF, overlong lines and the exact length edge."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.sources.lines import PREVIEW_BYTES, LineSplitter, Overlong


def run(chunks: list[bytes], max_line: int) -> list[bytes | Overlong]:
    splitter = LineSplitter(max_line)
    out: list[bytes | Overlong] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    out.extend(splitter.finish())
    return out


def test_lines_in_one_chunk() -> None:
    """Complete lines come out without their newline, blank lines included."""
    splitter = LineSplitter(100)
    assert splitter.feed(b"a\n\nbc\n") == [b"a", b"", b"bc"]
    assert splitter.finish() == []


def test_line_split_across_chunks() -> None:
    """A line cut by chunk boundaries comes out whole once its newline arrives."""
    splitter = LineSplitter(100)
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b":1") == []
    assert splitter.feed(b"}\n{") == [b'{"a":1}']
    assert splitter.feed(b"}\n") == [b"{}"]


def test_byte_at_a_time() -> None:
    """Feeding one byte per chunk yields the same lines."""
    data = b"one\ntwo\r\nthree\n"
    assert run([data[i : i + 1] for i in range(len(data))], 10) == [b"one", b"two\r", b"three"]


def test_crlf_is_kept_for_the_parser() -> None:
    """The CR of a CRLF ending stays on the line (JSON parsing tolerates it)."""
    assert run([b"a\r\nb\r\n"], 10) == [b"a\r", b"b\r"]


def test_unterminated_last_line_comes_out_at_finish() -> None:
    """The last line without a newline is returned by finish, once."""
    splitter = LineSplitter(10)
    assert splitter.feed(b"a\nb") == [b"a"]
    assert splitter.finish() == [b"b"]
    assert splitter.finish() == []


def test_empty_chunks_are_harmless() -> None:
    """An empty chunk yields nothing and does not disturb a pending line."""
    splitter = LineSplitter(10)
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"") == []
    assert splitter.feed(b"\n") == [b"ab"]


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        pytest.param([b"12345\n"], [b"12345"], id="at-limit-one-chunk"),
        pytest.param([b"12345", b"\n"], [b"12345"], id="at-limit-newline-later"),
        pytest.param([b"123", b"45"], [b"12345"], id="at-limit-unterminated"),
        pytest.param([b"123456\n"], [Overlong(b"123456", 6)], id="over-one-chunk"),
        pytest.param([b"123", b"456\n"], [Overlong(b"123456", 6)], id="over-across-chunks"),
        pytest.param([b"123456"], [Overlong(b"123456", 6)], id="over-unterminated"),
    ],
)
def test_exact_length_edge(chunks: list[bytes], expected: list[bytes | Overlong]) -> None:
    """A line of exactly the maximum passes; one byte more is reported as overlong."""
    assert run(chunks, 5) == expected


def test_overlong_line_reported_once_and_next_line_intact() -> None:
    """An overlong line gives one Overlong with its full size, and the next line is whole."""
    splitter = LineSplitter(5)
    assert splitter.feed(b"ok\n1234") == [b"ok"]
    assert splitter.feed(b"5678") == []
    assert splitter.feed(b"90\nnext\n") == [Overlong(b"12345678", 10), b"next"]
    assert splitter.finish() == []


def test_overlong_line_spanning_many_chunks() -> None:
    """A huge line over a hundred chunks is one Overlong with a bounded preview."""
    chunks = [b"before\n"] + [b"x" * 1000] * 100 + [b"\nafter\n"]
    out = run(chunks, 50)
    assert out[0] == b"before"
    assert out[2] == b"after"
    assert len(out) == 3
    overlong = out[1]
    assert isinstance(overlong, Overlong)
    assert overlong.size == 100_000
    assert overlong.preview == b"x" * 1000


def test_overlong_preview_is_capped() -> None:
    """The preview of a long line never exceeds PREVIEW_BYTES."""
    line = b"y" * (PREVIEW_BYTES * 3)
    (overlong,) = run([line + b"\n"], 10)
    assert isinstance(overlong, Overlong)
    assert overlong.preview == line[:PREVIEW_BYTES]
    assert overlong.size == len(line)


def test_overlong_unterminated_last_line_at_finish() -> None:
    """An overlong last line without a newline is reported by finish with its size."""
    splitter = LineSplitter(4)
    assert splitter.feed(b"abcdef") == []
    assert splitter.feed(b"gh") == []
    assert splitter.finish() == [Overlong(b"abcdef", 8)]


def test_several_overlong_lines_in_one_chunk() -> None:
    """Short and overlong lines mixed in one chunk keep their order."""
    assert run([b"abcdef\nok\nghijkl\n"], 3) == [
        Overlong(b"abcdef", 6),
        b"ok",
        Overlong(b"ghijkl", 6),
    ]


def expected_lines(data: bytes, max_line: int) -> list[bytes | Overlong]:
    """What a plain split gives: every line, the overlong ones by size and first bytes."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [
        line if len(line) <= max_line else Overlong(line[: min(len(line), max_line + 1)], len(line))
        for line in lines
    ]


def normalise(items: list[bytes | Overlong], max_line: int) -> list[bytes | Overlong]:
    """Overlong previews depend on chunking; keep only the part every chunking must show."""
    return [
        Overlong(item.preview[: max_line + 1], item.size) if isinstance(item, Overlong) else item
        for item in items
    ]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    terminated=st.booleans(),
    cuts=st.lists(st.integers(0, 2000), max_size=30),
    max_line=st.integers(1, 30),
)
def test_random_chunkings_match_a_plain_split(
    lines: list[bytes], terminated: bool, cuts: list[int], max_line: int
) -> None:
    """Any chunking of any input gives the lines of a plain split, overlong ones reported."""
    data = b"\n".join(lines) + (b"\n" if terminated and lines else b"")
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    out = run(chunks, max_line)
    assert normalise(out, max_line) == expected_lines(data, max_line)
    for item in out:
        if isinstance(item, Overlong):
            assert item.size > max_line
            assert len(item.preview) <= PREVIEW_BYTES
