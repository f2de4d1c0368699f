"""The spool's sync policy and ledger, driven by an injected time: when a sync is due, which
segments are finished, when the spool is full."""

from __future__ import annotations

import pytest

from streamer.spool.segments import (
    Ledger,
    SyncPolicy,
    offset_of,
    parse_done,
    parse_segment_name,
    segment_bytes_for,
    segment_name,
    split_offset,
)


def test_interval_syncs_one_interval_after_the_first_unsynced_append() -> None:
    """Group commit: later appends ride along with the first one's sync."""
    policy = SyncPolicy("interval", 0.05)
    assert policy.due_at() is None
    policy.appended(10.0)
    policy.appended(10.03)
    assert policy.due_at() == pytest.approx(10.05)
    policy.syncing()
    assert policy.due_at() is None
    policy.appended(10.2)
    assert policy.due_at() == pytest.approx(10.25)


def test_always_syncs_at_once_and_never_not_at_all() -> None:
    """always: due the moment something is appended; never: acknowledged without a sync."""
    always = SyncPolicy("always", 0.05)
    always.appended(3.0)
    assert always.due_at() == 3.0
    assert not always.acknowledges_at_once
    never = SyncPolicy("never", 0.05)
    never.appended(3.0)
    assert never.due_at() is None
    assert never.acknowledges_at_once


def test_a_failed_sync_leaves_the_bytes_due_again() -> None:
    """What a failed sync covered is unsynced: the next sync is due from the failure."""
    policy = SyncPolicy("interval", 0.05)
    policy.appended(1.0)
    policy.syncing()
    policy.failed(2.0)
    assert policy.due_at() == pytest.approx(2.05)


def test_offsets_pack_segment_position_and_index() -> None:
    """An offset names its segment, frame position and line index, and orders like them."""
    assert split_offset(offset_of(7, 123_456, 99)) == (7, 123_456, 99)
    assert offset_of(1, 2**39, 5) < offset_of(2, 0)
    assert offset_of(1, 10, 3) < offset_of(1, 11)


def test_segment_names_parse_back_and_others_are_ignored() -> None:
    """Only well-formed segment names count as segments."""
    assert parse_segment_name(segment_name(42)) == 42
    for other in ("lock", "000000000042.done", "42.seg", "abc.seg", "000000000042.seg.tmp"):
        assert parse_segment_name(other) is None


def test_a_torn_done_entry_is_ignored() -> None:
    """A `.done` file cut mid-entry keeps the whole entries."""
    data = (5).to_bytes(8, "big") + (9).to_bytes(8, "big") + b"\x00\x01"
    assert parse_done(data) == {5, 9}


def test_a_segment_is_finished_once_sealed_and_all_settled() -> None:
    """The active segment is never finished; a rolled one is once its entries are settled."""
    ledger = Ledger(max_bytes=1000)
    ledger.activate(1)
    ledger.wrote(2, 100)
    ledger.settle(1)
    ledger.settle(1)
    assert ledger.finished() == []
    assert ledger.active_finished()
    ledger.activate(2)
    assert ledger.finished() == [1]
    ledger.drop(1)
    assert ledger.total_bytes == 0


def test_a_segment_found_at_start_up_waits_for_its_scan() -> None:
    """Settling replayed entries before the scan ends never deletes the segment early."""
    ledger = Ledger(max_bytes=1000)
    ledger.add(1, size=300)
    ledger.activate(2)
    ledger.settle(1)
    assert ledger.finished() == []
    ledger.scanned(1, entries=2)
    assert ledger.finished() == []
    ledger.settle(1)
    assert ledger.finished() == [1]


def test_room_is_the_bytes_held_against_the_bound() -> None:
    """The spool is full once the bytes it holds reach its bound."""
    ledger = Ledger(max_bytes=250)
    ledger.activate(1)
    ledger.wrote(1, 200)
    assert ledger.has_room()
    ledger.wrote(1, 50)
    assert not ledger.has_room()


def test_segments_are_a_quarter_of_the_bound_up_to_the_ceiling() -> None:
    """Several segments fit in the bound, so settled ones can go while others fill."""
    assert segment_bytes_for(1 << 30, 64 << 20) == 64 << 20
    assert segment_bytes_for(1 << 20, 64 << 20) == 1 << 18
