"""The partial-failure micro-benchmark runs the real decision path to the end."""

from __future__ import annotations

from benchmarks.failpath_micro import Answers, run


def test_every_record_is_delivered_once_through_failures() -> None:
    """With failures injected, records are resent and each one is delivered exactly once."""
    answers = Answers(0.1, seed=1)
    result = run(3000, answers)
    assert result.delivered == 3000
    assert 0 < result.resent < 3000
    assert result.calls >= 3000 // 500
    answers.replay()
    again = run(3000, answers)
    assert (again.calls, again.resent) == (result.calls, result.resent), "a replay is the same run"


def test_without_failures_nothing_is_resent() -> None:
    """Without failures every record goes once and none is resent."""
    result = run(3000, Answers(0.0, seed=1))
    assert (result.delivered, result.resent) == (3000, 0)
