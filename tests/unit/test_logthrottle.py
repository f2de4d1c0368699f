"""The repeated-warning limiter: first occurrence at once, then one line per interval."""

from __future__ import annotations

from streamer.logthrottle import Every


def test_first_occurrence_is_logged_at_once() -> None:
    """The first event is due immediately, with a count of one."""
    assert Every(30.0).due(100.0) == 1


def test_repeats_inside_the_interval_are_counted_not_logged() -> None:
    """Events within the interval are held back and reported by the next due line."""
    every = Every(30.0)
    assert every.due(0.0) == 1
    assert [every.due(float(t)) for t in range(1, 30)] == [None] * 29
    assert every.due(30.0) == 30
    assert every.due(31.0) is None


def test_events_far_apart_are_each_logged() -> None:
    """Events further apart than the interval are each logged with a count of one."""
    every = Every(1.0)
    assert [every.due(t) for t in (0.0, 5.0, 10.0)] == [1, 1, 1]
