"""settle(): one table row per outcome of a PutRecords call, without an event loop."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from streamer.errors import MALFORMED_RESULT, RequestFailure
from streamer.kinesis import PutOutcome, PutResult
from streamer.record import Entry
from streamer.retry import RetryPolicy
from streamer.settle import Settlement, settle
from tests.support.shards import make_entry

POLICY = RetryPolicy(max_attempts=3, budget_s=10.0, backoff_base_s=1.0, backoff_cap_s=4.0)
A, B = "shardId-a", "shardId-b"
THROTTLED = "ProvisionedThroughputExceededException"


def top(lo: float, hi: float) -> float:
    """A jitter source that always picks the top of the range."""
    return hi


def _entries(attempts: int = 0, first_seen: float = 0.0) -> list[Entry]:
    """Three entries: two predicted on shard a, one on shard b."""
    out = [make_entry(f"k{i}", now=first_seen) for i in range(3)]
    for entry, shard in zip(out, (A, A, B), strict=True):
        entry.predicted_shard = shard
        entry.attempts = attempts
    return out


@dataclass(frozen=True)
class Expect:
    delivered: tuple[int, ...] = ()
    requeue: tuple[int, ...] = ()
    dead: tuple[tuple[int, str], ...] = ()
    """(entry index, start of the reason)"""
    throttled_shards: tuple[str, ...] = ()
    succeeded_shards: tuple[str, ...] = ()
    refresh: bool = False
    pause: bool = False
    possible_duplicates: int = 0
    throttled_records: int = 0
    request_failed: bool = False


def _ok(*shards: str | None, failures: dict[int, tuple[str, str]] | None = None) -> PutOutcome:
    return PutOutcome(list(shards), failures or {})


CASES: list[tuple[str, PutResult, int, float, Expect]] = [
    ("all-ok", _ok(A, A, B), 0, 1.0, Expect(delivered=(0, 1, 2), succeeded_shards=(A, B))),
    (
        "partial-throttled",
        _ok(A, None, B, failures={1: (THROTTLED, "slow down")}),
        0,
        1.0,
        Expect(
            delivered=(0, 2),
            requeue=(1,),
            throttled_shards=(A,),
            succeeded_shards=(B,),
            throttled_records=1,
        ),
    ),
    (
        "internal-failure",
        _ok(None, A, B, failures={0: ("InternalFailure", "")}),
        0,
        1.0,
        Expect(delivered=(1, 2), requeue=(0,), succeeded_shards=(A, B)),
    ),
    (
        "fatal-code",
        _ok(A, A, None, failures={2: ("KMSDisabledException", "key off")}),
        0,
        1.0,
        Expect(
            delivered=(0, 1),
            dead=((2, "KMSDisabledException (not retriable)"),),
            succeeded_shards=(A, B),
        ),
    ),
    (
        "malformed-result",
        _ok(A, A, None, failures={2: (MALFORMED_RESULT, "neither")}),
        0,
        1.0,
        Expect(delivered=(0, 1), requeue=(2,), succeeded_shards=(A, B), possible_duplicates=1),
    ),
    (
        "mispredicted-shard",
        _ok(A, B, B),
        0,
        1.0,
        Expect(delivered=(0, 1, 2), succeeded_shards=(A, B), refresh=True),
    ),
    (
        "request-retriable",
        RequestFailure("InternalFailure", "", retriable=True),
        0,
        1.0,
        Expect(requeue=(0, 1, 2), pause=True, request_failed=True),
    ),
    (
        "request-throttled",
        RequestFailure(THROTTLED, "", retriable=True),
        0,
        1.0,
        Expect(requeue=(0, 1, 2), pause=True, request_failed=True, throttled_shards=(A, B)),
    ),
    (
        "request-fatal",
        RequestFailure("AccessDeniedException", "no", retriable=False),
        0,
        1.0,
        Expect(
            dead=tuple((i, "AccessDeniedException: no (not retriable)") for i in range(3)),
            pause=True,
            request_failed=True,
        ),
    ),
    (
        "request-maybe-written",
        RequestFailure("RequestTimeout", "slow", retriable=True, maybe_written=True),
        0,
        1.0,
        Expect(requeue=(0, 1, 2), pause=True, request_failed=True, possible_duplicates=3),
    ),
    (
        "stream-missing",
        RequestFailure("ResourceNotFoundException", "gone", retriable=False),
        0,
        1.0,
        Expect(
            dead=tuple((i, "ResourceNotFoundException: gone (not retriable)") for i in range(3)),
            pause=True,
            request_failed=True,
            refresh=True,
        ),
    ),
    (
        "attempts-exhausted",
        _ok(A, None, B, failures={1: ("InternalFailure", "")}),
        2,
        1.0,
        Expect(
            delivered=(0, 2),
            dead=((1, "InternalFailure; gave up after 3 attempts (the attempt budget)"),),
            succeeded_shards=(A, B),
        ),
    ),
    (
        "budget-exhausted",
        _ok(A, None, B, failures={1: ("InternalFailure", "")}),
        0,
        11.0,
        Expect(
            delivered=(0, 2),
            dead=((1, "InternalFailure; gave up after 1 attempts in 11.0 s"),),
            succeeded_shards=(A, B),
        ),
    ),
]


@pytest.mark.parametrize(
    ("result", "attempts", "now", "expect"),
    [pytest.param(r, a, n, e, id=name) for name, r, a, n, e in CASES],
)
def test_settle_outcomes(result: PutResult, attempts: int, now: float, expect: Expect) -> None:
    """Each outcome settles every entry exactly once, with the right side effects."""
    entries = _entries(attempts)
    out = settle(entries, [A, B], result, now=now, policy=POLICY, uniform=top)
    index = {id(e): i for i, e in enumerate(entries)}
    assert tuple(index[id(e)] for e in out.delivered) == expect.delivered
    assert tuple(index[id(e)] for e in out.requeue) == expect.requeue
    assert len(out.dead) == len(expect.dead)
    for (entry, reason), (i, start) in zip(out.dead, expect.dead, strict=True):
        assert index[id(entry)] == i
        assert reason.startswith(start), reason
    assert tuple(out.throttled_shards) == expect.throttled_shards
    assert tuple(out.succeeded_shards) == expect.succeeded_shards
    assert out.refresh_shard_map is expect.refresh
    assert out.pause is expect.pause
    assert out.possible_duplicates == expect.possible_duplicates
    assert len(out.throttled_records) == expect.throttled_records
    assert out.request_failed is expect.request_failed
    settled = len(out.delivered) + len(out.requeue) + len(out.dead)
    assert settled == len(entries), "every entry has exactly one fate"
    assert out.failed == len(entries) - len(out.delivered)


def test_failed_attempts_are_counted_and_noted() -> None:
    """A failed entry's attempt count and history grow; its retry time is the policy's delay."""
    entries = _entries()
    out: Settlement = settle(
        entries,
        [A, B],
        _ok(A, None, B, failures={1: ("InternalFailure", "oops")}),
        now=2.0,
        policy=POLICY,
        uniform=top,
    )
    assert entries[1].attempts == 1
    assert entries[1].errors == ["InternalFailure: oops"]
    assert entries[0].attempts == 0
    assert entries[1].not_before == 2.0 + 1.0  # top of [0, base * 2^0]
    assert out.retry_at == 2.0, "records failed one by one: no pause, each waits its own delay"


def test_each_failed_entry_waits_its_own_delay() -> None:
    """Records failed one by one each get their own jittered delay, not the call's longest."""
    entries = _entries()
    delays = iter([0.25, 0.75])
    out = settle(
        entries,
        [A, B],
        _ok(None, A, None, failures={0: ("InternalFailure", ""), 2: ("InternalFailure", "")}),
        now=2.0,
        policy=POLICY,
        uniform=lambda lo, hi: next(delays),
    )
    assert out.requeue == [entries[0], entries[2]]
    assert [e.not_before for e in out.requeue] == [2.25, 2.75]
    assert (out.retry_at, out.pause) == (2.0, False)


def test_a_failed_call_pauses_until_its_latest_retry_time() -> None:
    """When the whole call failed, its shards pause until the latest of its entries' delays."""
    entries = _entries()
    delays = iter([0.5, 0.25, 0.75])
    out = settle(
        entries,
        [A, B],
        RequestFailure("InternalFailure", "boom", retriable=True),
        now=2.0,
        policy=POLICY,
        uniform=lambda lo, hi: next(delays),
    )
    assert [e.not_before for e in out.requeue] == [2.5, 2.25, 2.75]
    assert (out.retry_at, out.pause) == (2.75, True)


def test_records_answered_internal_failure_are_unwritten() -> None:
    """InternalFailure means the record was not written (its shard's rate tokens are given
    back); throttled records, fatal errors and unreadable results (maybe written) are not."""
    entries = _entries() + _entries()
    out = settle(
        entries,
        [A, B],
        _ok(
            None,
            None,
            None,
            None,
            A,
            None,
            failures={
                0: ("InternalFailure", ""),
                1: (THROTTLED, "slow down"),
                2: ("KMSAccessDeniedException", "no key"),
                3: (MALFORMED_RESULT, "neither"),
                5: ("InternalFailure", ""),
            },
        ),
        now=2.0,
        policy=POLICY,
        uniform=top,
    )
    assert out.unwritten == [entries[0], entries[5]]
    assert out.throttled_by_shard == {A: 1}
