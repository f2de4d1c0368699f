"""The crash test of the HTTP input with a spool: four clients POST 80k events in bodies of 500 to
a real daemon (sending to the benchmark endpoint, which fails 20% of records at random) that is
SIGKILLed three times, at points chosen from the clients' progress, and restarted on the same
spool; the clients re-send every body not answered 200. At the end (SIGTERM, exit 0) every
acknowledged event is read back from the stream; duplicates are allowed, counted, and each one is
explained by a line the spool held at a kill (replayed) or a body re-sent after it may have been
taken in. A SIGKILL cannot tell `interval` from `always` (written pages survive a process kill);
both run, for their different timing."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from benchmarks.endpoint import EndpointConfig, serve_in_thread
from streamer.spool.framing import FrameReader
from streamer.spool.segments import (
    done_name,
    local_of,
    offset_of,
    parse_done,
    parse_segment_name,
    segment_name,
)
from tests.support.events import client_event
from tests.support.processes import Daemon

pytestmark = pytest.mark.integration

BODIES, PER_BODY = 160, 500
KILL_AT = (40, 41, 110)
"""Bodies acknowledged when each SIGKILL comes: the second right after the first restart's
first answer (its replay may still be in flight), the third late in the stream."""
FAIL_RATE = 0.2
"""Records the endpoint fails at random: retried ones sit in backoff, so every kill finds lines
in the spool that were not delivered yet (and the restart may deliver them after later ones)."""
CLIENTS = 4
"""Bodies in flight at once: a kill always cuts some of them."""
RUN_TIMEOUT_S = 90.0
NDJSON = {"Content-Type": "application/x-ndjson"}


def body(b: int) -> bytes:
    return b"".join(client_event(b, i) + b"\n" for i in range(PER_BODY))


def _id(line: bytes) -> str:
    return str(orjson.loads(line)["_id"])


def unsettled_ids(spool: Path) -> tuple[list[str], int]:
    """The event ids the spool holds unsettled, read without opening it for writing (as the
    next start will replay them), and the number of torn tails."""
    ids: list[str] = []
    torn = 0
    segments = sorted(
        n for n in (parse_segment_name(p.name) for p in spool.iterdir()) if n is not None
    )
    for segment in segments:
        done_path = spool / done_name(segment)
        done = parse_done(done_path.read_bytes()) if done_path.exists() else set()
        reader = FrameReader()
        frames = reader.feed((spool / segment_name(segment)).read_bytes())
        kept = (f for f in frames if local_of(offset_of(segment, f.position, f.item)) not in done)
        ids += [_id(f.line) for f in kept]
        torn += reader.finish() is not None
    return ids, torn


def _events(log: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in log.read_bytes().splitlines() if line.startswith(b"{")]


def _args(tmp_path: Path, url: str, sync: str) -> list[str]:
    return [
        *("--stream", "crash", "--region", "us-east-1", "--endpoint-url", url),
        *("--input", "http://127.0.0.1:0", "--dead-letter", str(tmp_path / "dead.ndjson")),
        *("--linger-ms", "5", "--buffer-records", "5000", "--writers", "2"),
        *("--shard-rate-factor", "0", "--spool-dir", str(tmp_path / "spool")),
        *("--spool-sync", sync),
    ]


@dataclass
class Crashes:
    """The daemon being killed and restarted, and what the client saw."""

    tmp_path: Path
    args: list[str]
    daemon: Daemon | None = None
    runs: int = 0
    address: str = ""
    up: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    acked: set[int] = field(default_factory=set)
    sends: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    spooled_at_kill: list[int] = field(default_factory=list)
    torn_at_kill: int = 0
    replay_ids: Counter[str] = field(default_factory=Counter)

    async def start(self) -> None:
        self.runs += 1
        run_dir = self.tmp_path / f"run{self.runs}"
        run_dir.mkdir()
        self.daemon = Daemon(self.args, run_dir)
        ready = await asyncio.to_thread(self.daemon.wait_for, "accepting input", 60)
        [self.address] = ready["inputs"]
        self.up.set()

    async def kill(self) -> None:
        assert self.daemon is not None
        self.daemon.proc.send_signal(signal.SIGKILL)
        self.up.clear()  # no await between the kill and this: no request sees a stale "up"
        assert await asyncio.to_thread(self.daemon.proc.wait, 30) == -signal.SIGKILL
        ids, torn = unsettled_ids(self.tmp_path / "spool")
        self.spooled_at_kill.append(len(ids))
        self.torn_at_kill += torn
        self.replay_ids.update(ids)

    async def until_acked(self, count: int) -> None:
        while len(self.acked) < count:
            assert self.daemon is not None
            assert self.daemon.proc.poll() is None, self.daemon.stderr.read_text()[-2000:]
            self.progress.clear()
            await self.progress.wait()

    async def client(self, session: aiohttp.ClientSession, queue: asyncio.Queue[int]) -> None:
        while not queue.empty():
            b = queue.get_nowait()
            await self.up.wait()
            self.sends[b] += 1
            url = f"{self.address}/v1/records"
            try:
                async with session.post(url, data=body(b), headers=NDJSON) as response:
                    status, answer = response.status, await response.json()
            except (aiohttp.ClientError, OSError) as exc:
                status, answer = 0, {"error": type(exc).__name__}
            self.progress.set()  # an answer or a failure: the controller looks again
            if status == 200:
                assert answer["accepted"] == PER_BODY, answer
                self.acked.add(b)
                continue
            assert status in (0, 503), (status, answer)
            self.failures["connection" if status == 0 else str(status)] += 1
            queue.put_nowait(b)  # not answered 200: send it again (to the restarted daemon)
            if self.up.is_set():
                await asyncio.sleep(0.05)  # a client's back-off; the kill clears `up` at once

    async def run(self) -> tuple[int, dict[str, object]]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for b in range(BODIES):
            queue.put_nowait(b)
        await self.start()
        async with aiohttp.ClientSession() as session:
            clients = [asyncio.create_task(self.client(session, queue)) for _ in range(CLIENTS)]
            try:
                for target in KILL_AT:
                    await self.until_acked(target)
                    await self.kill()
                    await self.start()
                await self.until_acked(BODIES)
                await asyncio.gather(*clients)
            finally:
                for task in clients:
                    task.cancel()
                await asyncio.gather(*clients, return_exceptions=True)
        assert self.daemon is not None
        self.daemon.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.daemon.finish, 60)

    def close(self) -> None:
        if self.daemon is not None:
            self.daemon.kill()


@pytest.mark.parametrize("sync", ["interval", "always"])
def test_sigkill_during_http_intake_loses_no_acknowledged_event(tmp_path: Path, sync: str) -> None:
    """Three SIGKILLs while four clients POST 160 bodies of 500: every event of every body
    answered 200 is in the stream; the duplicates are counted and each has a cause."""
    config = EndpointConfig(shards=2, stream="crash", keep_records=True, fail_rate=FAIL_RATE)
    with serve_in_thread(config) as (url, server):
        crashes = Crashes(tmp_path, _args(tmp_path, url, sync))
        try:
            rc, summary = asyncio.run(asyncio.wait_for(crashes.run(), RUN_TIMEOUT_S))
        finally:
            crashes.close()
        ids = Counter(_id(r["data"].encode()) for r in server.records())
        endpoint_duplicates = server.stats()["duplicates"]
    assert rc == 0, summary
    assert (summary["dead_lettered"], summary["spooled"]) == (0, 0), summary
    assert sum(crashes.spooled_at_kill) > 0, "the kills left nothing in the spool: nothing proved"
    assert crashes.acked == set(range(BODIES))
    expected = {f"c{b}-{i}" for b in range(BODIES) for i in range(PER_BODY)}
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} acknowledged events are not in the stream"
    assert set(ids) == expected
    duplicates = sum(ids.values()) - len(ids)
    assert duplicates == endpoint_duplicates
    logs = [tmp_path / f"run{run}" / "stderr.log" for run in range(2, crashes.runs + 1)]
    restarts = [e for log in logs for e in _events(log)]
    replayed = [e["lines"] for e in restarts if e.get("event") == "spool replayed"]
    assert sum(replayed) == sum(crashes.spooled_at_kill), (replayed, crashes.spooled_at_kill)
    torn = [e for e in restarts if e.get("event") == "spool: skipped a torn or corrupt tail"]
    assert len(torn) == crashes.torn_at_kill, torn  # a write the kill cut short is skipped
    assert summary["replayed"] == crashes.spooled_at_kill[-1]
    # every duplicate is a line the spool held at a kill, or in a body sent more than once
    resent = {f"c{b}-{i}" for b, n in crashes.sends.items() if n > 1 for i in range(PER_BODY)}
    unexplained = {i for i, n in ids.items() if n > 1} - set(crashes.replay_ids) - resent
    assert not unexplained, sorted(unexplained)[:10]
    assert not any((tmp_path / "spool").glob("*.seg")), "a clean exit leaves an empty spool"
    print(
        f"\nspool_sync={sync}: {BODIES * PER_BODY} events in {BODIES} bodies, "
        f"{sum(crashes.sends.values())} POSTs ({dict(crashes.failures)} not answered 200), "
        f"{len(KILL_AT)} SIGKILLs; spool held {crashes.spooled_at_kill} lines at the kills "
        f"(torn tails: {crashes.torn_at_kill}); {len(ids)} distinct events delivered, "
        f"{duplicates} duplicates"
    )
