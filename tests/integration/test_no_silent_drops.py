"""No silent drops, as a user sees them: an unusable dead-letter path stops the daemon before it
reads anything, the file is owner-only, SIGTERM delivers what a TCP client had sent, and big
numbers reach the stream with their digits unchanged."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from local_kinesis import REGION, read_all
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.endpoint import EndpointConfig, serve_in_thread
from tests.support.events import client_event as event
from tests.support.processes import Daemon, aws_env, run_streamer, until

pytestmark = pytest.mark.integration


def _args(moto_url: str, stream: str, dead: Path) -> list[str]:
    return [
        *("run", "--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
        *("--dead-letter", str(dead), "--linger-ms", "1"),
    ]


def _unusable(tmp_path: Path, case: str) -> Path:
    if case == "a directory":
        return tmp_path
    if case == "under a regular file":
        (tmp_path / "file").write_bytes(b"")
        return tmp_path / "file" / "dl.ndjson"
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    return ro / "dl.ndjson"


@pytest.mark.parametrize(
    ("case", "why"),
    [
        ("a directory", "Is a directory"),
        ("under a regular file", "Not a directory"),
        pytest.param(
            "a read-only directory",
            "Permission denied",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere"),
        ),
    ],
)
def test_unusable_dead_letter_path_exits_2_before_reading(
    moto_url: str, new_stream: Any, tmp_path: Path, case: str, why: str
) -> None:
    """An unusable dead-letter path: exit 2 with one sentence, no line read or sent (`run`
    and `check` alike)."""
    stream = new_stream(1)
    path = _unusable(tmp_path, case)
    lines = event(1, 0) + b"\n{bad\n" + event(1, 1) + b"\n"
    proc = run_streamer(_args(moto_url, stream, path), lines)
    assert proc.returncode == 2, proc.stderr.decode()[-2000:]
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("streamer: cannot use ")
    assert why in last
    assert b'"summary"' not in proc.stderr
    assert asyncio.run(read_all(moto_url, stream)) == []
    check = run_streamer(
        ["check", *_args(moto_url, stream, path)[1:-2]], b"", env=aws_env(), timeout=60
    )
    assert check.returncode == 2
    assert "dead letter  FAILED" in check.stdout.decode()


def test_dead_letter_file_is_owner_only(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """The file the daemon creates is 0600 under umask 022, and `check` reports its line."""
    stream = new_stream(1)
    dead = tmp_path / "dl.ndjson"
    old = os.umask(0o022)
    try:
        proc = run_streamer(_args(moto_url, stream, dead), event(1, 0) + b"\n{bad\n")
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert stat.S_IMODE(dead.stat().st_mode) == 0o600
    assert len(dead.read_bytes().splitlines()) == 1
    check = run_streamer(["check", *_args(moto_url, stream, dead)[1:-2]], b"", timeout=60)
    assert check.returncode == 0, check.stderr.decode()
    assert f"dead letter  ok     {dead}" in check.stdout.decode()


def _metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def test_sigterm_delivers_what_a_tcp_client_sent(tmp_path: Path) -> None:
    """SIGTERM right after a client sent 80,000 lines and shut its write side: all delivered,
    none torn; another client's line in progress (connection left open) is dead-lettered as
    `cut at shutdown` with its bytes, its complete lines delivered."""
    n = 80_000
    dead = tmp_path / "dead.ndjson"
    config = EndpointConfig(shards=4, stream="drops", keep_records=True)
    with serve_in_thread(config) as (url, server):
        daemon = Daemon(
            [
                *("--stream", "drops", "--region", REGION, "--endpoint-url", url),
                *("--input", "tcp://127.0.0.1:0", "--dead-letter", str(dead)),
                *("--linger-ms", "5", "--shard-rate-factor", "0"),
            ],
            tmp_path,
        )
        try:
            ready = daemon.wait_for("accepting input")
            host, port = ready["inputs"][0].removeprefix("tcp://").rsplit(":", 1)
            with (
                socket.create_connection((host, int(port))) as open_one,
                socket.create_connection((host, int(port))) as sender,
            ):
                open_one.sendall(event(2, 0) + b"\n" + event(2, 1)[:40])
                sender.sendall(b"".join(event(1, i) + b"\n" for i in range(n)))
                sender.shutdown(socket.SHUT_WR)
                daemon.proc.send_signal(signal.SIGTERM)
                rc, summary = daemon.finish(60)
        finally:
            daemon.kill()
        records = server.records()
    assert rc == 0, daemon.stderr.read_text()[-2000:]
    assert summary["delivered"] == n + 1
    assert summary["dead_lettered"] == 1
    ids = Counter(orjson.loads(r["data"])["_id"] for r in records)
    assert set(ids) == {f"c1-{i}" for i in range(n)} | {"c2-0"}
    assert max(ids.values()) == 1
    [cut] = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert cut["reason"].endswith("cut at shutdown")
    assert cut["category"] == "cut"
    assert cut["line"] == event(2, 1)[:40].decode()
    assert cut["line_no"] == 2


@pytest.mark.parametrize("completed", [True, False])
def test_sigterm_finishes_the_stdin_line_in_progress(
    moto_url: str, new_stream: Any, tmp_path: Path, completed: bool
) -> None:
    """At SIGTERM stdin reads its line in progress to the newline and no further; a line that
    is not completed is dead-lettered as `cut at shutdown`, not as bad JSON."""
    stream = new_stream(1)
    dead = tmp_path / "dead.ndjson"
    idle_ms = "5000" if completed else "100"
    daemon = Daemon(
        [
            *_args(moto_url, stream, dead)[1:],
            *("--metrics-address", "127.0.0.1:0", "--shutdown-idle-ms", idle_ms),
        ],
        tmp_path,
        stdin=subprocess.PIPE,
    )
    try:
        ready = daemon.wait_for("accepting input")
        assert daemon.proc.stdin is not None
        last = event(1, 10)
        daemon.proc.stdin.write(b"".join(event(1, i) + b"\n" for i in range(10)) + last[:30])
        daemon.proc.stdin.flush()
        until(lambda: _metrics(ready["status"])["streamer_records_delivered_total"] == 10)
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.wait_for("signal received, draining")
        if completed:
            more = b"".join(event(1, i) + b"\n" for i in range(11, 16))
            daemon.proc.stdin.write(last[30:] + b"\n" + more)
            daemon.proc.stdin.flush()
        rc, summary = daemon.finish(20)
    finally:
        daemon.kill()
        if daemon.proc.stdin is not None:
            daemon.proc.stdin.close()
    assert rc == 0, daemon.stderr.read_text()[-2000:]
    assert summary["received"] == 11, "read past the line in progress"
    if completed:
        assert summary["delivered"] == 11
        assert not dead.exists() or dead.read_bytes() == b""
    else:
        assert summary["delivered"] == 10
        [cut] = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
        assert cut["reason"] == "line 11 of stdin: cut at shutdown"
        assert cut["line"] == last[:30].decode()


def test_big_numbers_reach_the_stream_unchanged(
    moto_url: str, new_stream: Any, tmp_path: Path
) -> None:
    """Integers beyond 64 bits and long decimals arrive at the stream with their digits as
    written, through the real process and server."""
    stream = new_stream(1)
    numbers = {
        "big": "18446744073709551616",
        "neg": "-9223372036854775809",
        "huge": "123456789012345678901234567890",
        "dec": "0.10000000000000000000001",
    }
    base = orjson.loads(event(7, 0))
    fields = ", ".join(f'"{k}": {v}' for k, v in numbers.items())
    line = orjson.dumps(base)[:-1] + b", " + fields.encode() + b"}\n"
    proc = run_streamer(_args(moto_url, stream, tmp_path / "dl.ndjson"), line)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    [record] = asyncio.run(read_all(moto_url, stream))
    data = record["data"] if isinstance(record["data"], bytes) else record["data"].encode()
    for key, digits in numbers.items():
        assert f'"{key}":{digits}'.encode() in data.replace(b": ", b":"), key
