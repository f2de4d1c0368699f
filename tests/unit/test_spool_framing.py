"""Spool frames: round trips in any slicing, and torn or corrupt tails detected, never raised."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.record import Entry
from streamer.spool.framing import (
    GROUP_HEAD,
    HEADER,
    FrameReader,
    Torn,
    encode,
    encode_group,
    encode_source,
)
from streamer.spool.spool import _frames as _chunk_frames

LINES = st.lists(
    st.tuples(
        st.sampled_from(["stdin", "tcp:127.0.0.1:9000#3", "http:127.0.0.1:8080#12", "é"]),
        st.integers(min_value=1, max_value=2**40),
        st.binary(max_size=300),
    ),
    max_size=30,
)


def _frames(lines: list[tuple[str, int, bytes]]) -> list[bytes]:
    return [encode(encode_source(src), seq, line) for src, seq, line in lines]


def _read(data: bytes, cuts: list[int]) -> tuple[list[tuple[int, str, int, bytes]], Torn | None]:
    reader = FrameReader()
    out: list[tuple[int, str, int, bytes]] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += [(f.position, f.source, f.seq, f.line) for f in reader.feed(data[start:cut])]
        start = max(start, cut)
    return out, reader.finish()


@given(LINES, st.lists(st.integers(min_value=0, max_value=20_000), max_size=8))
def test_frames_round_trip_whatever_the_read_sizes(
    lines: list[tuple[str, int, bytes]], cuts: list[int]
) -> None:
    """Every frame comes back with its position, source, number and line, in order."""
    frames = _frames(lines)
    data = b"".join(frames)
    got, torn = _read(data, [min(c, len(data)) for c in cuts])
    positions = [sum(len(f) for f in frames[:i]) for i in range(len(frames))]
    assert got == [(p, s, n, b) for p, (s, n, b) in zip(positions, lines, strict=True)]
    assert torn is None


@settings(max_examples=300)
@given(LINES.filter(bool), st.data())
def test_a_truncated_segment_yields_every_whole_frame_and_reports_the_rest(
    lines: list[tuple[str, int, bytes]], data: st.DataObject
) -> None:
    """Cut anywhere: the frames wholly before the cut come back; the rest is one torn span."""
    frames = _frames(lines)
    blob = b"".join(frames)
    cut = data.draw(st.integers(min_value=0, max_value=len(blob)))
    got, torn = _read(blob[:cut], [])
    whole = 0
    size = 0
    while whole < len(frames) and size + len(frames[whole]) <= cut:
        size += len(frames[whole])
        whole += 1
    assert len(got) == whole
    if size == cut:
        assert torn is None
    else:
        assert torn is not None
        assert (torn.position, torn.size) == (size, cut - size)


@given(LINES.filter(bool), st.data())
def test_a_flipped_byte_is_detected_and_everything_after_skipped(
    lines: list[tuple[str, int, bytes]], data: st.DataObject
) -> None:
    """Corruption inside frame k: frames before k come back, the rest is reported torn."""
    frames = _frames(lines)
    blob = bytearray(b"".join(frames))
    at = data.draw(st.integers(min_value=0, max_value=len(blob) - 1))
    blob[at] ^= 0xFF
    got, torn = _read(bytes(blob), [])
    k = 0
    start = 0
    while start + len(frames[k]) <= at:
        start += len(frames[k])
        k += 1
    assert len(got) == k
    assert torn is not None
    assert torn.position == start
    assert torn.size == len(blob) - start


def test_an_impossible_length_is_corruption_not_a_wait_for_more() -> None:
    """A header claiming a huge payload is reported at once, not buffered forever."""
    reader = FrameReader()
    good = encode(b"stdin", 1, b"{}")
    assert len(reader.feed(good + HEADER.pack(2**31, 0) + b"x" * 10)) == 1
    torn = reader.finish()
    assert torn is not None
    assert torn.reason.startswith("impossible entry length")
    assert torn.size == HEADER.size + 10


def test_a_source_name_longer_than_its_entry_is_corruption() -> None:
    """A valid checksum over a payload whose name length overruns it is still rejected."""
    payload = GROUP_HEAD.pack(500, 0) + b"ab"
    frame = HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    reader = FrameReader()
    assert reader.feed(frame) == []
    torn = reader.finish()
    assert torn is not None
    assert torn.size == len(frame)


@given(st.lists(LINES.filter(bool), max_size=6))
def test_groups_of_lines_come_back_line_by_line(groups: list[list[tuple[str, int, bytes]]]) -> None:
    """A frame holds one chunk's lines of one source; each comes back with its frame's
    position and its index in the frame."""
    frames = [
        encode_group(encode_source(g[0][0]), [n for _, n, _ in g], [b for _, _, b in g])
        for g in groups
    ]
    reader = FrameReader()
    got = reader.feed(b"".join(frames))
    assert reader.finish() is None
    expected = []
    position = 0
    for group, frame in zip(groups, frames, strict=True):
        expected += [(position, i, group[0][0], n, b) for i, (_, n, b) in enumerate(group)]
        position += len(frame)
    assert [tuple(f) for f in got] == expected


@given(
    st.lists(
        st.tuples(st.sampled_from(["stdin", "tcp:a#1", "http:b#2"]), st.binary(max_size=20)),
        min_size=1,
        max_size=40,
    ),
    st.integers(min_value=1, max_value=8),
)
def test_a_chunks_frames_are_the_runs_of_one_source_each_as_encode_group(
    lines: list[tuple[str, bytes]], max_lines: int
) -> None:
    """`spool._frames` (one frame for a chunk of one source, built without a per-entry Python
    step) gives the frames of the simple rule: one per run of lines of one source, at most
    `max_lines` each."""
    entries = [Entry(b"x", "k", source, n, 0.0) for n, (source, _) in enumerate(lines, 1)]
    raw = [line for _, line in lines]
    expected: list[tuple[bytes, int]] = []
    start = 0
    while start < len(lines):
        stop = start + 1
        while stop < len(lines) and stop - start < max_lines and lines[stop][0] == lines[start][0]:
            stop += 1
        seqs = list(range(start + 1, stop + 1))
        frame = encode_group(encode_source(lines[start][0]), seqs, raw[start:stop])
        expected.append((frame, stop - start))
        start = stop
    assert _chunk_frames(entries, raw, max_lines) == expected
