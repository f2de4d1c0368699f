"""SIGTERM and SIGKILL mid-stream, with a writer still feeding stdin: after SIGTERM nothing
accepted is lost; after SIGKILL what is missing is bounded by what the daemon held in memory
(the buffer, the calls in flight and one read chunk), as the README documents."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import orjson
import pytest

from benchmarks.endpoint import EndpointConfig, serve_in_thread
from streamer.limits import READ_CHUNK_BYTES, STDIN_PIPE_BYTES
from tests.support.events import client_event as event
from tests.support.feeder import Feeder, stop_feeding
from tests.support.processes import Daemon, until

pytestmark = pytest.mark.integration

BUFFER = 1000
WRITERS = 2
LINE_BYTES = len(event(1, 0)) + 1


def _start(tmp_path: Path, url: str) -> Daemon:
    return Daemon(
        [
            *("--stream", "crash", "--region", "us-east-1", "--endpoint-url", url),
            *("--dead-letter", str(tmp_path / "dead.ndjson"), "--linger-ms", "5"),
            *("--buffer-records", str(BUFFER), "--writers", str(WRITERS)),
            *("--shard-rate-factor", "0"),
        ],
        tmp_path,
        stdin=subprocess.PIPE,
    )


def _dead_ids(path: Path) -> set[str]:
    """Ids of dead-lettered records, and of input lines (a line cut by the stop is one)."""
    ids = set()
    for raw in path.read_bytes().splitlines() if path.exists() else []:
        entry = orjson.loads(raw)
        if entry["kind"] == "delivery":
            ids.add(entry["record"]["_id"])
        else:  # line N of stdin is event c1-(N-1)
            ids.add(f"c1-{entry['line_no'] - 1}")
    return ids


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_signal_mid_stream(tmp_path: Path, sig: signal.Signals) -> None:
    """Mid-stream signal: SIGTERM loses nothing read; SIGKILL loses at most what was in memory."""
    config = EndpointConfig(shards=2, stream="crash", keep_records=True)
    with serve_in_thread(config) as (url, server):
        daemon = _start(tmp_path, url)
        feeder = Feeder(daemon.proc, total=200_000)
        try:
            daemon.wait_for("accepting input")
            feeder.start()
            until(lambda: server.stats()["records_accepted"] >= 5000, timeout=60)
            daemon.proc.send_signal(sig)
            rc = daemon.proc.wait(timeout=60)
            feeder.join(timeout=10)
        finally:
            stop_feeding(daemon, feeder)
        stats = server.stats()
        delivered = {r["data"].split('"_id":"')[1].split('"')[0] for r in server.records()}
    dead = _dead_ids(tmp_path / "dead.ndjson")
    written = {f"c1-{i}" for i in range(feeder.written)}
    assert stats["duplicates"] == 0
    assert delivered <= written
    assert 5000 <= len(delivered) < 200_000
    missing = written - delivered - dead
    # Lines still in the pipe were never read by the daemon; at most the pipe's capacity (the
    # daemon widens its stdin pipe to STDIN_PIPE_BYTES).
    pipe_lines = STDIN_PIPE_BYTES // LINE_BYTES + 1
    if sig == signal.SIGTERM:
        assert rc == 0
        summary = orjson.loads(daemon.stderr.read_bytes().splitlines()[-1])
        assert summary["delivered"] == len(delivered)
        assert summary["received"] == len(delivered) + len(dead)
        # Everything the daemon read was delivered or dead-lettered; only unread lines remain.
        read = {f"c1-{i}" for i in range(summary["received"])}
        assert read <= delivered | dead
        assert len(missing) <= pipe_lines + 100
    else:
        assert rc == -signal.SIGKILL
        chunk_lines = READ_CHUNK_BYTES // LINE_BYTES + 1
        in_memory = BUFFER + WRITERS * 500 + chunk_lines
        assert len(missing) <= in_memory + pipe_lines + 100
