"""The daemon's pipeline end to end at the client seam: batching, the partial-failure loop,
whole-request failures, budgets, resharding and the drain, against a scripted fake client."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
from structlog.testing import capture_logs

from streamer import daemon
from streamer.accumulator import Accumulator
from streamer.batcher import Batch
from streamer.errors import RequestFailure
from streamer.ingest import rejection_category
from streamer.record import hash_key
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis, break_drain
from tests.support.inprocess import chunks_of, run_daemon, settings


def _keys_accepted(fake: FakeKinesis) -> Counter[str]:
    return Counter(key for _, key, _ in fake.accepted)


async def test_every_record_delivered_once_in_bounded_batches(tmp_path: Path) -> None:
    """5,000 events arrive exactly once, on the MD5-predicted shard, in calls of <= 500."""
    fake = FakeKinesis(shard_count=4)
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(5000)))
    assert stats.delivered == 5000
    assert _keys_accepted(fake) == Counter(f"ecid-{i}" for i in range(5000))
    assert max(fake.calls) <= 500
    assert all(fake.map.shard_for(hash_key(key)) == shard for shard, key, _ in fake.accepted)
    assert not fake.overlap, "two calls carried records of one shard at the same time"


async def test_partial_failures_resubmit_only_failed_entries(tmp_path: Path) -> None:
    """Entries failed with throttling or InternalFailure are resent alone, until all arrive."""
    fake = FakeKinesis(
        shard_count=1,
        script=[
            lambda entries: {0: "ProvisionedThroughputExceededException", 7: "InternalFailure"},
            lambda entries: {0: "InternalFailure"},
        ],
    )
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(20)))
    assert fake.calls[:3] == [20, 2, 1]
    assert _keys_accepted(fake) == Counter(f"ecid-{i}" for i in range(20))
    assert stats.retried == 3
    assert stats.throttled == 1
    assert stats.delivered == 20
    assert dead_letters(tmp_path / "dead.ndjson") == []


async def test_one_debug_line_per_put_records_call(tmp_path: Path) -> None:
    """Each PutRecords call logs one canonical debug line with its records and failures."""
    fake = FakeKinesis(shard_count=1, script=[lambda entries: {0: "InternalFailure"}])
    with capture_logs() as logged:
        stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(20)))
    calls = [e for e in logged if e["event"] == "PutRecords"]
    assert len(calls) == stats.requests == len(fake.calls)
    assert [(c["records"], c["failed"], c["retrying"]) for c in calls[:2]] == [
        (20, 1, 1),
        (1, 0, 0),
    ]
    assert all(c["log_level"] == "debug" for c in calls)


def _ids(fake: FakeKinesis) -> list[bytes]:
    return [data.split(b'"_id":"')[1].split(b'"')[0] for _, _, data in fake.accepted]


async def test_strict_order_resends_failed_record_before_later_ones_of_its_key(
    tmp_path: Path,
) -> None:
    """With strict ordering a key has one record per call, so a retry precedes later records."""
    fake = FakeKinesis(shard_count=1, script=[lambda entries: {0}])
    lines = [profile(i, key="same") for i in range(3)] + [profile(9)]
    stats = await run_daemon(fake, settings(tmp_path), lines)
    assert stats.delivered == 4
    assert [i for i in _ids(fake) if i != b"e9"] == [b"e0", b"e1", b"e2"]
    assert fake.calls[0] == 2  # the first call took e0 and e9, skipping e1, e2 of key "same"


async def test_relaxed_order_packs_one_key_into_one_call(tmp_path: Path) -> None:
    """With relaxed ordering one key's records share a call; a failed one is resent alone."""
    fake = FakeKinesis(shard_count=1, script=[lambda entries: {0}])
    lines = [profile(i, key="same") for i in range(3)]
    stats = await run_daemon(fake, settings(tmp_path, ordering="relaxed"), lines)
    assert stats.delivered == 3
    assert _ids(fake) == [b"e1", b"e2", b"e0"]
    assert fake.calls == [3, 1]


async def test_retriable_request_failure_is_retried_and_duplicates_counted(tmp_path: Path) -> None:
    """A timeout that may have been applied is retried; the possible duplicates are counted."""
    failure = RequestFailure("RequestTimeout", "slow", retriable=True, maybe_written=True)
    fake = FakeKinesis(shard_count=2, script=[lambda e: failure], accept_on_failure=True)
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(10)))
    assert stats.delivered == 10
    assert stats.request_failures == 1
    assert stats.possible_duplicates == fake.calls[0]
    counts = _keys_accepted(fake)
    assert set(counts) == {f"ecid-{i}" for i in range(10)}
    assert sum(counts.values()) == 10 + fake.calls[0]


async def test_non_retriable_request_failure_dead_letters_with_reason(tmp_path: Path) -> None:
    """An AccessDenied answer dead-letters its records with the reason and the record itself."""
    denied = RequestFailure("AccessDeniedException", "no kinesis:PutRecords", retriable=False)
    fake = FakeKinesis(shard_count=1, script=[lambda e: denied])
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(5)))
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered == 0
    assert stats.dead_lettered == 5
    assert len(dead) == 5
    assert all("AccessDeniedException" in d["reason"] for d in dead)
    assert all("not retriable" in d["reason"] for d in dead)
    assert {d["record"]["_id"] for d in dead} == {f"e{i}" for i in range(5)}
    assert {d["line_no"] for d in dead} == {1, 2, 3, 4, 5}


async def test_attempt_budget_dead_letters_with_history(tmp_path: Path) -> None:
    """A record failing every attempt is dead-lettered after max_attempts, listing each error."""
    fake = FakeKinesis(shard_count=1, script=[lambda e: {0}] * 3)
    stats = await run_daemon(fake, settings(tmp_path, max_attempts=3), [profile(1)])
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered == 0
    assert len(dead) == 1
    assert dead[0]["attempts"] == 3
    assert len(dead[0]["errors"]) == 3
    assert "attempt budget" in dead[0]["reason"]


async def test_time_budget_dead_letters(tmp_path: Path) -> None:
    """With an injected clock past the record's time budget, a throttled record gives up."""
    ticks = iter(range(0, 10_000, 10))
    fake = FakeKinesis(shard_count=1, script=[lambda e: {0}] * 50)
    cfg = settings(tmp_path, record_budget_s=25.0)
    stats = await run_daemon(fake, cfg, [profile(1)], clock=lambda: float(next(ticks)))
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered == 0
    assert len(dead) == 1
    assert "time budget is 25 s" in dead[0]["reason"]


async def test_client_exception_does_not_lose_records(tmp_path: Path) -> None:
    """An adapter that raises is treated as a retriable failure; every record still arrives."""
    fake = FakeKinesis(shard_count=1, script=[lambda e: RuntimeError("adapter bug")])
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(4)))
    assert stats.delivered == 4
    assert _keys_accepted(fake) == Counter(f"ecid-{i}" for i in range(4))


async def test_bad_lines_dead_lettered_with_line_numbers(tmp_path: Path) -> None:
    """Bad lines go to the dead-letter file naming their line; good lines around them arrive."""
    lines = [profile(1), b"{not json", b"", profile(2), b"[1]", b'{"identityMap": {}}', profile(3)]
    fake = FakeKinesis(shard_count=1)
    stats = await run_daemon(fake, settings(tmp_path), lines)
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered == 3
    assert stats.received == 6
    assert [d["line_no"] for d in dead] == [2, 5, 6]
    assert dead[0]["reason"].startswith("line 2 of test: not valid JSON")
    assert dead[0]["line"] == "{not json"


async def test_rejections_counted_by_category(tmp_path: Path) -> None:
    """Bad lines are counted by category, overlong lines as "overlong"; the counts sum up."""
    lines = [b"{not json", b"x" * 2000, profile(1)]
    stats = await run_daemon(
        FakeKinesis(shard_count=1), settings(tmp_path, max_line_bytes=1024), lines
    )
    assert stats.rejected_by_category["overlong"] == 1
    assert sum(stats.rejected_by_category.values()) == stats.rejected == 2
    assert rejection_category(NamedCategory("invalid_utf8")) == "invalid_utf8"
    assert rejection_category(object()) == "invalid"


class NamedCategory(NamedTuple):
    category: str


async def test_filtered_profiles_are_counted_not_sent(tmp_path: Path) -> None:
    """Profiles in no mapped segment are counted as filtered and never sent."""
    fake = FakeKinesis(shard_count=1)
    cfg = settings(tmp_path, segments=["some-other-segment"])
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(7)))
    assert stats.filtered == 7
    assert stats.delivered == 0
    assert fake.accepted == []


async def test_reshard_refreshes_map_and_delivers_everything(tmp_path: Path) -> None:
    """After the stream is resharded, mispredicted shards trigger a refresh; nothing is lost."""
    fake = FakeKinesis(shard_count=2)

    def reshard_on_first_call(entries: object) -> None:
        fake.reshard(4, "child-")

    fake.script = [reshard_on_first_call]
    cfg = settings(tmp_path, buffer_records=600)
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(3000)))
    assert stats.delivered == 3000
    assert fake.list_shards_calls >= 2  # start-up plus at least one refresh
    assert stats.shard_map_refreshes >= 1
    assert _keys_accepted(fake) == Counter(f"ecid-{i}" for i in range(3000))


async def test_drain_deadline_dead_letters_what_is_held(tmp_path: Path) -> None:
    """A call that never answers is abandoned at the drain deadline; its records dead-lettered."""
    fake = FakeKinesis(shard_count=1, block=asyncio.Event())
    cfg = settings(tmp_path, drain_deadline_s=0.2)
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(3)))
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered == 0
    assert len(dead) == 3
    assert all(d["reason"].startswith("shutdown deadline") for d in dead)


async def test_hot_key_does_not_stall_other_keys_of_its_shard(tmp_path: Path) -> None:
    """With one key on every other line, the other keys still go out in the first calls."""
    fake = FakeKinesis(shard_count=1)
    lines = []
    for i in range(300):
        lines.append(profile(i, key="hot"))
        lines.append(profile(1000 + i))
    stats = await run_daemon(fake, settings(tmp_path, buffer_records=1000), lines)
    assert stats.delivered == 600
    keys = [key for _, key, _ in fake.accepted]
    last_other = max(i for i, key in enumerate(keys) if key != "hot")
    assert last_other < 301 + 2  # first call: 1 hot record + 300 others
    hot_ids = [i for i in _ids(fake) if int(i[1:]) < 1000]
    assert hot_ids == [f"e{i}".encode() for i in range(300)]  # hot key's order kept


async def test_sender_crash_dead_letters_everything_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the sender loop dies, input stops and every held record is dead-lettered, not lost."""
    break_drain(monkeypatch, after_calls=3)
    fake = FakeKinesis(shard_count=2)
    lines = [profile(i) for i in range(5000)]
    stats = await run_daemon(fake, settings(tmp_path, buffer_records=600), lines)
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered + stats.dead_lettered_delivery == stats.exported
    assert stats.exported < 5000  # input stopped
    assert dead
    assert all("internal error in the sender" in d["reason"] for d in dead)
    assert {k for _, k, _ in fake.accepted}.isdisjoint({d["partition_key"] for d in dead})


async def test_malformed_result_is_retried_and_counted(tmp_path: Path) -> None:
    """A result with neither ShardId nor ErrorCode is resent and counted as a possible duplicate."""
    fake = FakeKinesis(shard_count=1, script=[lambda entries: {0: "MalformedResult"}])
    stats = await run_daemon(fake, settings(tmp_path), (profile(i) for i in range(5)))
    assert stats.delivered == 5
    assert stats.possible_duplicates == 1
    assert _keys_accepted(fake) == Counter(f"ecid-{i}" for i in range(5))


async def test_drain_deadline_does_not_dead_letter_settled_calls(tmp_path: Path) -> None:
    """Calls that finished before the deadline are not dead-lettered again by the abandon."""
    for _ in range(5):
        fake = FakeKinesis(shard_count=64)
        cfg = settings(tmp_path, drain_deadline_s=0.01, buffer_records=30_000)
        stats = await run_daemon(fake, cfg, (profile(i) for i in range(20_000)))
        assert stats.delivered + stats.dead_lettered_delivery == stats.exported
        dead_keys = {d["partition_key"] for d in dead_letters(tmp_path / "dead.ndjson")}
        assert dead_keys.isdisjoint(k for _, k, _ in fake.accepted)
        (tmp_path / "dead.ndjson").unlink(missing_ok=True)


async def test_sender_death_stops_a_socket_daemon_with_no_input_arriving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only an idle TCP listener left, a dead sender still stops the daemon (failed)."""
    original = Accumulator.drain
    calls = 0

    def drain_dies_once_input_ended(self: Accumulator, now: float, max_batches: int) -> list[Batch]:
        nonlocal calls
        calls += 1
        if self.buffered_records and self._flushing is False and calls > 1:
            raise RuntimeError("bug in drain")
        return original(self, now, max_batches)

    monkeypatch.setattr(Accumulator, "drain", drain_dies_once_input_ended)
    cfg = settings(tmp_path, inputs=["tcp://127.0.0.1:0"], linger_ms=50)
    runner = daemon.Daemon(
        cfg,
        FakeKinesis(shard_count=1),
        sources={"test": chunks_of([profile(1)])},
        install_signals=False,
    )
    await asyncio.wait_for(runner.run(), timeout=20)  # returns without any signal
    assert runner.failed
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert [d["partition_key"] for d in dead] == ["ecid-1"]
