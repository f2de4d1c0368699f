"""Micro-benchmark of the partial-failure path: CPU per 100k records, with and without failures.

What it does: runs the streamer's own decision path with no I/O, as the pipeline drives it after
each call: records are added to an `Accumulator` over 4 shards in chunks, ready batches are
drained, each call is answered with the bytes a Kinesis endpoint sends (a `--fail-rate` share of
the records failed, half InternalFailure, half throttling, drawn from a seeded generator), and
the answer is decoded (`wire.decode_put_records`), settled (`settle.settle` with the default
retry policy) and the failed records requeued, until every record is delivered. A fake clock
advances a millisecond per round, so backoffs pass. The answers are made on a first run and
replayed by the timed ones. It reports CPU seconds per 100k records (`time.process_time`, best
of several repeats, so other load on the machine matters less), the number of calls and the
records resent.

What it leaves out: reading and exporting lines, building and signing request bodies, HTTP and
the endpoint's own work (see BENCHMARKS.md for whole-process numbers), and the timing of real
calls (the order of calls here is not the daemon's).

Run: `.venv/bin/python -m benchmarks.failpath_micro` (`--records N --repeat R --fail-rate F`).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass

from streamer.accumulator import Accumulator, BatchLimits
from streamer.limits import HASH_KEY_MAX
from streamer.record import Entry
from streamer.retry import RetryPolicy
from streamer.settle import settle
from streamer.shard_map import Shard, ShardMap
from streamer.wire import decode_put_records

SHARDS = 4
CHUNK = 350
"""Records offered at a time (what one read of the input gives, about)."""
WRITERS = 16
ROUND_S = 0.001
RATE_EXCEEDED = (
    b'{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":'
    b'"Rate exceeded for shard %s in stream bench under account 123456789012."}'
)
INTERNAL = b'{"ErrorCode":"InternalFailure","ErrorMessage":"Internal service failure."}'


@dataclass
class Run:
    cpu_s: float
    calls: int
    resent: int
    delivered: int


def shard_map() -> ShardMap:
    step = (HASH_KEY_MAX + 1) // SHARDS
    return ShardMap(
        [
            Shard(
                shard_id=f"shardId-{i:012d}",
                start=i * step,
                end=HASH_KEY_MAX if i == SHARDS - 1 else (i + 1) * step - 1,
            )
            for i in range(SHARDS)
        ],
        loaded_at=0.0,
    )


def answer(entries: list[Entry], rng: random.Random, fail_rate: float) -> bytes:
    """The endpoint's answer to a call of `entries`: each record written to its predicted shard,
    or failed with probability `fail_rate`."""
    parts = []
    failed = 0
    for i, entry in enumerate(entries):
        if fail_rate and rng.random() < fail_rate:
            failed += 1
            shard = entry.predicted_shard.encode()
            parts.append(INTERNAL if rng.random() < 0.5 else RATE_EXCEEDED % shard)
        else:
            parts.append(
                b'{"SequenceNumber":"%d","ShardId":"%s"}'
                % (49_000_000_000_000_000_000 + i, entry.predicted_shard.encode())
            )
    return b'{"FailedRecordCount":%d,"Records":[%s],"EncryptionType":"NONE"}' % (
        failed,
        b",".join(parts),
    )


class Answers:
    """The endpoint's answers to a run's calls: made by `answer` on the first run, then replayed
    in the same order (the run is deterministic), so timed runs do none of the endpoint's work."""

    def __init__(self, fail_rate: float, seed: int) -> None:
        self._rng = random.Random(seed)
        self._fail_rate = fail_rate
        self._made: list[bytes] = []
        self._next = 0
        self.recording = True

    def __call__(self, entries: list[Entry]) -> bytes:
        if self.recording:
            self._made.append(answer(entries, self._rng, self._fail_rate))
        raw = self._made[self._next]
        self._next += 1
        return raw

    def replay(self) -> None:
        self.recording = False
        self._next = 0


def run(records: int, answers: Answers, seed: int = 1) -> Run:
    """Deliver `records` records through the decision path; CPU time excludes making them."""
    entries = [Entry(b"x" * 600, f"{seed:04d}-{i:012d}", "bench", i, 0.0) for i in range(records)]
    acc = Accumulator(shard_map(), BatchLimits())
    policy = RetryPolicy()
    uniform = random.Random(seed).uniform
    now = 0.0
    calls = resent = delivered = 0
    offered = 0
    start = time.process_time()
    while offered < records or not acc.is_empty():
        if offered < records:
            acc.add_many(entries[offered : offered + CHUNK], now)
            offered += CHUNK
        else:
            acc.flush()
        for batch in acc.drain(now, WRITERS):
            calls += 1
            raw = answers(batch.entries)
            result = decode_put_records(200, raw, len(batch.entries))
            acc.release(batch)
            out = settle(
                batch.entries, batch.shard_ids, result, now=now, policy=policy, uniform=uniform
            )
            delivered += len(out.delivered)
            if out.requeue:
                resent += len(out.requeue)
                acc.requeue(out.requeue, out.retry_at, pause=out.pause)
            assert not out.dead, out.dead[0][1]
        now += ROUND_S
    cpu_s = time.process_time() - start
    assert delivered == records, f"{delivered} of {records} records delivered"
    return Run(cpu_s, calls, resent, delivered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fail-rate", type=float, nargs="*", default=[0.0, 0.1])
    args = parser.parse_args()
    for fail_rate in args.fail_rate:
        answers = Answers(fail_rate, seed=1)
        first = run(args.records, answers)
        runs = []
        for _ in range(args.repeat):
            answers.replay()
            runs.append(run(args.records, answers))
        best = min(runs, key=lambda r: r.cpu_s)
        assert (best.calls, best.resent) == (first.calls, first.resent), "the runs differ"
        print(
            f"fail-rate {fail_rate:g}: {best.cpu_s * 100_000 / args.records:.3f} CPU s per 100k "
            f"records (best of {args.repeat}), {best.calls} calls, {best.resent} resent"
        )


if __name__ == "__main__":
    main()
