"""The spool directory on disk: permissions, the lock, rolling and trimming segments, what a
restart replays, torn tails and a full spool."""

from __future__ import annotations

import os
import random
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from streamer.spool.framing import encode
from streamer.spool.segments import (
    DONE_ENTRY,
    LOCAL_BITS,
    done_name,
    encode_done,
    local_of,
    offset_of,
    parse_done,
    segment_name,
)
from streamer.spool.store import SpoolLocked, SpoolStore


def _store(path: Path, max_bytes: int = 1 << 20, segment_bytes: int = 1 << 16) -> SpoolStore:
    store = SpoolStore(path, max_bytes=max_bytes, segment_bytes=segment_bytes)
    store.open()
    return store


def _write(store: SpoolStore, frames: list[bytes]) -> list[int]:
    return store.append([(f, 1) for f in frames])


def _frame(i: int, source: str = "stdin") -> bytes:
    return encode(source.encode(), i, b'{"n": %d}' % i)


def _replayed(path: Path) -> list[tuple[str, int, bytes]]:
    store = _store(path)
    try:
        return [(f.source, f.seq, f.line) for _, f in store.replay()]
    finally:
        store.close()


def test_directory_is_0700_and_files_0600(tmp_path: Path) -> None:
    """The spool holds profiles: nobody else may read it."""
    spool = tmp_path / "spool"
    store = _store(spool)
    _write(store, [_frame(1)])
    store.settle([])
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    for f in spool.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    store.close()


def test_a_second_store_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    """One daemon per spool: the lock refuses the second with a sentence, until released."""
    first = _store(tmp_path)
    with pytest.raises(SpoolLocked, match="in use by another streamer daemon"):
        _store(tmp_path)
    first.close()
    _store(tmp_path).close()


def test_unsettled_lines_are_replayed_in_order_after_a_restart(tmp_path: Path) -> None:
    """What was not settled comes back, in order, with its source and line number."""
    store = _store(tmp_path, segment_bytes=200)
    offsets = _write(store, [_frame(i, "tcp:a#1") for i in range(1, 6)])
    offsets += _write(store, [_frame(i, "tcp:a#1") for i in range(6, 11)])
    store.settle([offsets[0], offsets[3], offsets[9]])
    store.close()  # the .done files survive: settled lines are not sent again
    got = _replayed(tmp_path)
    assert [(s, n) for s, n, _ in got] == [("tcp:a#1", n) for n in (2, 3, 5, 6, 7, 8, 9)]
    assert got[0][2] == b'{"n": 2}'


def test_settled_segments_are_deleted_and_a_clean_exit_leaves_nothing(tmp_path: Path) -> None:
    """A segment goes once every line in it is settled; nothing is replayed after that."""
    store = _store(tmp_path, segment_bytes=100)
    offsets = [o for i in range(1, 30) for o in _write(store, [_frame(i)])]
    assert len([p for p in tmp_path.iterdir() if p.suffix == ".seg"]) > 3
    store.settle(offsets)
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]
    assert _replayed(tmp_path) == []


def test_replayed_lines_settle_and_their_segments_go(tmp_path: Path) -> None:
    """Settling replayed lines deletes the old segments, so a third start replays nothing."""
    store = _store(tmp_path)
    _write(store, [_frame(i) for i in range(1, 4)])
    store.close()
    second = _store(tmp_path)
    offsets = [o for o, _ in second.replay()]
    assert len(offsets) == 3
    second.settle(offsets)
    assert not (tmp_path / segment_name(1)).exists()
    second.close()
    assert _replayed(tmp_path) == []


def test_the_spool_is_full_at_its_bound_and_settling_makes_room(tmp_path: Path) -> None:
    """Past max_bytes there is no room; settled segments free it."""
    store = _store(tmp_path, max_bytes=1000, segment_bytes=250)
    offsets: list[int] = []
    while store.ledger.has_room():
        offsets += _write(store, [_frame(len(offsets) + 1)])
    assert store.ledger.total_bytes >= 1000
    store.settle(offsets)
    assert store.ledger.has_room()
    store.close()


def test_a_failed_write_leaves_no_partial_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut short (disk full) is cut back, so the segment stays readable."""
    store = _store(tmp_path)
    _write(store, [_frame(1)])
    real_write = os.write

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        monkeypatch.setattr(os, "write", full)
        return real_write(fd, bytes(data)[:5])

    def full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        _write(store, [_frame(2)])
    monkeypatch.setattr(os, "write", real_write)
    _write(store, [_frame(3)])
    store.close()
    assert [n for _, n, _ in _replayed(tmp_path)] == [1, 3]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(min_value=1, max_value=40), data=st.data())
def test_a_segment_truncated_anywhere_replays_its_whole_lines(
    count: int, data: st.DataObject
) -> None:
    """A crash mid-write: start-up skips the torn tail and replays every whole line before it."""
    with tempfile.TemporaryDirectory() as name:
        path = Path(name)
        store = _store(path)
        frames = [_frame(i) for i in range(1, count + 1)]
        _write(store, frames)
        store.close()
        seg = path / segment_name(1)
        cut = data.draw(st.integers(min_value=0, max_value=seg.stat().st_size))
        os.truncate(seg, cut)
        whole = 0
        size = 0
        while whole < count and size + len(frames[whole]) <= cut:
            size += len(frames[whole])
            whole += 1
        assert [n for _, n, _ in _replayed(path)] == list(range(1, whole + 1))


def test_a_torn_tail_is_logged_with_its_byte_count(tmp_path: Path) -> None:
    """The warning says which segment and how many bytes were skipped."""
    store = _store(tmp_path)
    _write(store, [_frame(1), _frame(2)])
    store.close()
    seg = tmp_path / segment_name(1)
    os.truncate(seg, seg.stat().st_size - 3)
    with capture_logs() as logs:
        assert [n for _, n, _ in _replayed(tmp_path)] == [1]
    torn = [e for e in logs if e["event"] == "spool: skipped a torn or corrupt tail"]
    assert len(torn) == 1
    assert torn[0]["bytes"] == len(_frame(2)) - 3
    assert torn[0]["segment"] == seg.name


def test_a_full_spool_of_settled_lines_in_one_segment_frees_itself(tmp_path: Path) -> None:
    """Everything in the active segment settled while full: it rolls so the segment can go."""
    store = _store(tmp_path, max_bytes=300, segment_bytes=4096)
    offsets: list[int] = []
    while store.ledger.has_room():
        offsets += _write(store, [_frame(len(offsets) + 1)])
    store.settle(offsets)
    assert store.ledger.has_room()
    store.close()


def test_without_syncs_rolled_segments_are_closed_at_once(tmp_path: Path) -> None:
    """spool_sync = never: no sync will close rolled segments, so rolling closes them."""
    store = SpoolStore(tmp_path, max_bytes=1 << 20, segment_bytes=100, syncs=False)
    store.open()
    for i in range(1, 20):
        _write(store, [_frame(i)])
    assert store.begin_sync().closing == []
    store.close()


@given(st.lists(st.integers(0, (1 << 64) - 1), max_size=50))
def test_done_entries_are_each_offset_within_its_segment(offsets: list[int]) -> None:
    """The array-built `.done` bytes equal packing each `local_of` offset one by one."""
    expected = b"".join(DONE_ENTRY.pack(local_of(o)) for o in offsets)
    assert encode_done(offsets) == expected
    assert parse_done(encode_done(offsets)) == {local_of(o) for o in offsets}


@given(
    st.lists(
        st.tuples(st.integers(1, 40), st.integers(0, 1 << 39), st.integers(0, 1 << 19)),
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_settling_notes_each_offset_in_its_own_segments_done_file(
    places: list[tuple[int, int, int]], rnd: random.Random
) -> None:
    """Offsets of one call in one segment or spread over several, in any order: each segment's
    `.done` file lists exactly its own (the one-segment shortcut agrees with the grouping)."""
    offsets = [offset_of(*p) for p in places]
    rnd.shuffle(offsets)
    with tempfile.TemporaryDirectory() as directory:
        store = _store(Path(directory))
        for segment in {p[0] for p in places}:
            store.ledger.add(segment)
        store.settle(offsets)
        for segment in {p[0] for p in places}:
            done = (Path(directory) / done_name(segment)).read_bytes()
            mine = [o for o in offsets if o >> LOCAL_BITS == segment]
            assert done == encode_done(mine)
            assert store.ledger.segments[segment].settled == len(mine)
        store.close()
