"""Destination health for /readyz with a fake clock: at-once failures, the window, recovery."""

from __future__ import annotations

from streamer.errors import RequestFailure
from streamer.health import DestinationHealth, judge
from streamer.kinesis import PutOutcome

GONE = RequestFailure("ResourceNotFoundException", "Stream s not found", retriable=False)
UNREACHABLE = RequestFailure("ConnectionError", "Connection refused", retriable=True)
THROTTLED = RequestFailure("ThrottlingException", "slow down", retriable=True)
OK = PutOutcome(shard_ids=["shardId-0", "shardId-1"])


def test_deleted_stream_is_a_problem_at_once_and_recovers() -> None:
    """ResourceNotFound makes the destination failing at once; one good call clears it."""
    health = DestinationHealth(30.0)
    health.observe_result(100.0, GONE)
    problem = health.problem(100.0)
    assert problem is not None
    assert "does not exist" in problem
    health.observe_result(101.0, OK)
    assert health.problem(101.0) is None


def test_unreachable_endpoint_is_a_problem_at_once() -> None:
    """A connection error names the endpoint as unreachable."""
    health = DestinationHealth(30.0)
    health.observe_result(5.0, UNREACHABLE)
    assert "unreachable" in (health.problem(5.0) or "")


def test_other_failures_count_only_after_the_window() -> None:
    """Retriable failures make it failing only once every call for unready_after_s failed."""
    health = DestinationHealth(30.0)
    health.observe_result(0.0, THROTTLED)
    health.observe_result(20.0, THROTTLED)
    assert health.problem(29.9) is None
    problem = health.problem(30.0)
    assert problem is not None
    assert "every PutRecords call for 30 s failed" in problem
    assert "ThrottlingException" in problem


def test_a_success_inside_the_window_restarts_it() -> None:
    """One call that succeeds resets the window: failures must fill it again."""
    health = DestinationHealth(30.0)
    health.observe_result(0.0, THROTTLED)
    health.observe_result(25.0, OK)
    health.observe_result(26.0, THROTTLED)
    assert health.problem(50.0) is None
    assert health.problem(56.0) is not None


def test_judge_counts_a_call_whose_every_record_failed_as_failed() -> None:
    """All records failed is a failed call; a partial failure is a working destination."""
    all_failed = PutOutcome(
        shard_ids=[None, None], failures={0: ("InternalFailure", "x"), 1: ("InternalFailure", "x")}
    )
    partial = PutOutcome(shard_ids=["shardId-0", None], failures={1: ("InternalFailure", "x")})
    assert judge(all_failed).ok is False
    assert judge(partial).ok is True
    assert judge(OK).ok is True
    assert judge(GONE).at_once is True
    assert judge(THROTTLED).at_once is False
    reset = RequestFailure("ConnectionError", "reset", retriable=True, maybe_written=True)
    assert judge(reset) == (False, "ConnectionError: reset", False)
