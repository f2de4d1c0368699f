"""KPL aggregation and compression through the whole daemon at the client seam: every user
record arrives once on the shard its key hashes to, a failed aggregate is resent whole, its fate
(settled, dead-lettered, counted) is per user record, per-key order holds across aggregates, and
compressed records are what is sent while dead letters keep the record uncompressed."""

from __future__ import annotations

import base64
import gzip
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest
import zstandard
from aws_kinesis_agg.deaggregator import deaggregate_records

from streamer import kpl, replay
from streamer.accumulator import Accumulator, BatchLimits
from streamer.deadletter import DeadLetterFile
from streamer.errors import RequestFailure
from streamer.pipeline import Pipeline, PipelineSettings
from streamer.record import Entry, Outcome, Settled, Ticket, hash_key
from streamer.retry import RetryPolicy
from streamer.stats import Stats
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import run_daemon, settings


def unpacked(fake: FakeKinesis) -> list[tuple[str, str, bytes]]:
    """(shard, partition key, data) of every user record accepted, read as a consumer does."""
    out = []
    for shard, key, data in fake.accepted:
        raw = {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "sequenceNumber": "1",
                "approximateArrivalTimestamp": 0,
                "partitionKey": key,
                "data": base64.b64encode(data),
            }
        }
        for user in deaggregate_records([raw]):
            body = base64.b64decode(user["kinesis"]["data"])
            out.append((shard, user["kinesis"]["partitionKey"], body))
    return out


def ids(records: list[tuple[str, str, bytes]]) -> list[str]:
    return [orjson.loads(data)["_id"] for _, _, data in records]


async def test_every_user_record_arrives_once_on_its_own_shard(tmp_path: Path) -> None:
    """2,000 events in far fewer Kinesis records; each user record lands on the shard its own
    partition key hashes to, and the counts are per user record."""
    fake = FakeKinesis(shard_count=4)
    cfg = settings(tmp_path, aggregation="kpl", aggregation_target_bytes=20_000)
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(2000)))
    users = unpacked(fake)
    assert Counter(ids(users)) == Counter(f"e{i}" for i in range(2000))
    assert all(fake.map.shard_for(hash_key(key)) == shard for shard, key, _ in users)
    assert stats.delivered == 2000
    aggregates = sum(data.startswith(kpl.MAGIC) for _, _, data in fake.accepted)
    assert stats.aggregates_sent == aggregates
    assert len(fake.accepted) < 2000 / 10
    assert all(len(data) + len(key) <= 20_000 for _, key, data in fake.accepted)
    assert not fake.overlap


async def test_a_failed_aggregate_is_resent_whole(tmp_path: Path) -> None:
    """The first call's first record fails: the very same aggregate is sent again, each of its
    user records counted as retried once, and everything arrives once."""
    fake = FakeKinesis(shard_count=1)
    first_call: list[Entry] = []

    def remember(entries: Sequence[Entry]) -> dict[int, str]:
        first_call.extend(entries)
        return {0: "InternalFailure"}

    fake.script = [remember]
    cfg = settings(tmp_path, aggregation="kpl", aggregation_target_bytes=5_000)
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(100)))
    failed = first_call[0]
    assert failed.data.startswith(kpl.MAGIC)
    assert [data for _, _, data in fake.accepted].count(failed.data) == 1
    in_failed = len(list(deaggregate_records([_as_lambda(failed)])))
    assert stats.retried == in_failed > 1
    assert Counter(ids(unpacked(fake))) == Counter(f"e{i}" for i in range(100))
    assert stats.delivered == 100


def _as_lambda(entry: Entry) -> dict[str, object]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "sequenceNumber": "1",
            "approximateArrivalTimestamp": 0,
            "partitionKey": entry.partition_key,
            "data": base64.b64encode(entry.data),
        }
    }


async def test_a_dead_lettered_aggregate_is_one_entry_per_user_record(tmp_path: Path) -> None:
    """A call refused for good: each user record gets its own dead-letter entry with its own
    record and line number, and the counts are per user record, never per aggregate."""
    denied = RequestFailure("AccessDeniedException", "no kinesis:PutRecords", retriable=False)
    fake = FakeKinesis(shard_count=1, script=[lambda e: denied])
    cfg = settings(tmp_path, aggregation="kpl")
    stats = await run_daemon(fake, cfg, (profile(i) for i in range(30)))
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.dead_lettered == 30
    assert stats.delivered == 0
    assert stats.aggregates_sent == 0
    assert sorted(d["record"]["_id"] for d in dead) == sorted(f"e{i}" for i in range(30))
    assert sorted(d["line_no"] for d in dead) == list(range(1, 31))
    assert all(d["partition_key"] == f"ecid-{d['line_no'] - 1}" for d in dead)
    assert all(d["attempts"] == 1 for d in dead)


async def test_per_key_order_holds_across_aggregates(tmp_path: Path) -> None:
    """One key's records spread over several aggregates, the first of them failing twice: a
    consumer still reads that key's records in input order."""
    fake = FakeKinesis(shard_count=1, script=[lambda e: {0}, lambda e: {0}])
    lines = [profile(i, key="same" if i % 4 == 0 else None, pad=300) for i in range(200)]
    cfg = settings(tmp_path, aggregation="kpl", aggregation_target_bytes=4_000)
    stats = await run_daemon(fake, cfg, lines)
    users = unpacked(fake)
    assert stats.delivered == 200
    same = [i for _, key, i in ((s, k, orjson.loads(d)["_id"]) for s, k, d in users)
            if key == "same"]  # fmt: skip
    assert same == [f"e{i}" for i in range(0, 200, 4)]


@pytest.mark.parametrize("codec", ["gzip", "zstd"])
async def test_compressed_records_are_sent_and_dead_letters_stay_json(
    tmp_path: Path, codec: str
) -> None:
    """Records go out compressed (each on its own, also inside aggregates); a record over the
    record limit before compression but under it after is sent; a record given up is written
    to the dead-letter file uncompressed, as JSON."""
    decompress = gzip.decompress if codec == "gzip" else zstandard.ZstdDecompressor().decompress
    denied = RequestFailure("AccessDeniedException", "denied", retriable=False)
    fake = FakeKinesis(shard_count=2, script=[lambda e: denied])
    big = profile(999, pad=3_000)  # about 3.2 KB of JSON, compresses far below 2 KiB
    lines = [profile(0), *(profile(i) for i in range(1, 40)), big]
    cfg = settings(tmp_path, compression=codec, aggregation="kpl", max_record_bytes=2048)
    stats = await run_daemon(fake, cfg, lines)
    dead = dead_letters(tmp_path / "dead.ndjson")
    assert stats.delivered + stats.dead_lettered == 41
    assert dead
    assert all(isinstance(d["record"], dict) for d in dead)
    sent = {orjson.loads(decompress(data))["_id"] for _, _, data in unpacked(fake)}
    assert sent | {d["record"]["_id"] for d in dead} == {f"e{i}" for i in [*range(40), 999]}
    assert len(big) > 2048


async def test_settled_events_carry_every_user_records_ticket(tmp_path: Path) -> None:
    """Aggregates delivered, retried and dead-lettered: the settled events name each user
    record exactly once, never an aggregate."""
    fatal = {0: "KMSDisabledException"}
    fake = FakeKinesis(shard_count=2, script=[lambda e: {1: "InternalFailure"}, lambda e: fatal])
    dead = DeadLetterFile(tmp_path / "dead.ndjson")
    limits = BatchLimits(linger_s=0.0, aggregation_bytes=3_000)
    pipeline = Pipeline(
        client=fake,
        accumulator=Accumulator(fake.map, limits),
        policy=RetryPolicy(backoff_base_s=0.0, backoff_cap_s=0.001),
        dead_letters=dead,
        stats=Stats(),
        settings=PipelineSettings(writers=1),
    )
    events: list[Settled] = []
    pipeline.subscribe(events.append)
    entries = [Entry(profile(i), f"ecid-{i}", "src", i + 1, 0.0) for i in range(200)]
    async with pipeline:
        pipeline.offer(entries, 0.0)
        pipeline.kick()
        await pipeline.close(5.0)
    dead.close()
    got = Counter(t for event in events for t in event.tickets)
    assert got == Counter(Ticket("src", i + 1) for i in range(200))
    outcomes = Counter(event.outcome for event in events for _ in event.tickets)
    lost = len(dead_letters(tmp_path / "dead.ndjson"))
    assert 1 < lost < 200
    assert outcomes == {Outcome.DELIVERED: 200 - lost, Outcome.DEAD_LETTERED: lost}


async def test_compressed_aggregated_dead_letters_replay(tmp_path: Path) -> None:
    """A run with zstd and aggregation whose records all fail leaves uncompressed JSON records;
    `streamer replay` with the same settings sends them compressed and aggregated again."""
    gone = RequestFailure("ResourceNotFoundException", "Stream s not found", retriable=False)
    down = FakeKinesis(shard_count=2, script=[lambda e: gone] * 10)
    formats = {"compression": "zstd", "aggregation": "kpl"}
    await run_daemon(down, settings(tmp_path, **formats), (profile(i) for i in range(50)))
    first = tmp_path / "dead.ndjson"
    assert sorted(d["record"]["_id"] for d in dead_letters(first)) == sorted(
        f"e{i}" for i in range(50)
    )
    up = FakeKinesis(shard_count=2)
    again = settings(tmp_path, dead_letter=str(tmp_path / "again.ndjson"), **formats)
    stats, _report, written = await replay.replay(again, up, first, "delivery")
    assert (stats.delivered, written) == (50, 0)
    assert len(up.accepted) < 10
    read = unpacked(up)
    decompress = zstandard.ZstdDecompressor().decompress
    assert sorted(orjson.loads(decompress(data))["_id"] for _, _, data in read) == sorted(
        f"e{i}" for i in range(50)
    )
