"""The real daemon process as a long-running service: concurrent TCP and Unix clients into
moto's server, metrics scraped during the run and checked against the summary, SIGTERM drain,
a second SIGINT, `streamer check` and its exit codes, console logs without secrets."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from local_kinesis import REGION, read_all
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.endpoint import EndpointConfig, serve_in_thread
from tests.support.events import client_event as event
from tests.support.processes import (
    Daemon,
    aws_env,
    get,
    run_streamer,
    send,
    streamer_cmd,
    until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="st-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def scrape(url: str) -> dict[str, float]:
    """Counter and gauge values by name (labelled series summed per name)."""
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    out: defaultdict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] += sample.value
    return dict(out)


def test_socket_clients_metrics_and_sigterm(
    moto_url: str, new_stream: Any, tmp_path: Path, sock_dir: Path
) -> None:
    """6 TCP and Unix clients send 30,000 lines at once, one sends an overlong line, one is cut
    mid-line; metrics match the summary; SIGTERM drains; every record is read back exactly once
    and each key's records are in their client's order."""
    stream = new_stream(4)
    sock = sock_dir / "in.sock"
    dead = tmp_path / "dead.ndjson"
    daemon = Daemon(
        [
            *("--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
            *("--input", "tcp://127.0.0.1:0", "--input", f"unix://{sock}"),
            *("--metrics-address", "127.0.0.1:0", "--dead-letter", str(dead)),
            *("--linger-ms", "5", "--shard-rate-factor", "0", "--max-line-bytes", "8192"),
        ],
        tmp_path,
    )
    try:
        ready = daemon.wait_for("accepting input")
        tcp, unix = ready["inputs"]
        url = ready["status"]
        assert stat_mode(sock) == 0o600
        assert get(url + "/readyz") == (200, {"status": "ready"})
        assert get(url + "/healthz")[0] == 200

        clients, per_client = 6, 5000
        payloads = {
            c: b"".join(event(c, i) + b"\n" for i in range(per_client)) for c in range(clients)
        }
        overlong = event(90, 0) + b"\n" + b"x" * 20_000 + b"\n" + event(90, 1) + b"\n"
        cut = event(91, 0) + b"\n" + event(91, 1)[:30]
        with ThreadPoolExecutor(clients + 2) as pool:
            jobs = [pool.submit(send, tcp if c % 2 else unix, payloads[c]) for c in payloads]
            jobs += [pool.submit(send, tcp, overlong), pool.submit(send, unix, cut)]
            during = scrape(url)
            for job in jobs:
                job.result()
        total_lines = clients * per_client + 3 + 2
        valid = clients * per_client + 2 + 1
        assert during["streamer_records_received_total"] <= total_lines
        assert (
            during["streamer_records_delivered_total"]
            <= during["streamer_records_exported_total"]
            <= during["streamer_records_received_total"]
        )

        def settled() -> dict[str, float] | None:
            m = scrape(url)
            done = (
                m["streamer_records_received_total"] == total_lines
                and m["streamer_records_delivered_total"] == valid
                and m["streamer_in_flight_records"] == 0
            )
            return m if done else None

        metrics = until(settled, 30)
        assert metrics["streamer_connections_accepted_total"] == clients + 2
        assert metrics["streamer_connections_open"] == 0
        assert metrics["streamer_buffered_records"] == 0
        assert metrics["streamer_shards"] == 4
        assert (
            metrics["streamer_put_records_duration_seconds_count"]
            == (metrics["streamer_put_records_calls_total"])
        )
        daemon.proc.send_signal(signal.SIGTERM)
        rc, summary = daemon.finish()
    finally:
        daemon.kill()
    assert rc == 0, daemon.stderr.read_text()[-2000:]
    assert summary["event"] == "summary"
    for key, metric in (
        ("received", "streamer_records_received_total"),
        ("exported", "streamer_records_exported_total"),
        ("delivered", "streamer_records_delivered_total"),
        ("dead_lettered", "streamer_records_dead_lettered_total"),
        ("retried", "streamer_records_retried_total"),
        ("requests", "streamer_put_records_calls_total"),
    ):
        assert summary[key] == metrics[metric], key
    assert summary["dead_lettered"] == 2
    assert not sock.exists()

    entries = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    by_source = {e["source"].split("#")[0]: e for e in entries}
    assert "over the maximum line length of 8192 bytes" in by_source[f"tcp:{tcp[6:]}"]["reason"]
    assert by_source[f"tcp:{tcp[6:]}"]["line_no"] == 2
    assert "not valid JSON" in by_source[f"unix:{sock}"]["reason"]
    assert by_source[f"unix:{sock}"]["line_no"] == 2

    records = asyncio.run(read_all(moto_url, stream))
    ids = Counter(orjson.loads(r["data"])["_id"] for r in records)
    expected = {f"c{c}-{i}" for c in range(clients) for i in range(per_client)}
    assert set(ids) == expected | {"c90-0", "c90-1", "c91-0"}
    assert max(ids.values()) == 1
    order: dict[str, list[int]] = defaultdict(list)
    for r in records:  # read back shard by shard, each in sequence order
        order[r["partition_key"]].append(orjson.loads(r["data"])["seq"])
    assert all(seqs == sorted(seqs) for seqs in order.values())


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture
def stalling_endpoint() -> Iterator[str]:
    """A Kinesis-compatible endpoint whose PutRecords answers take a minute."""
    with serve_in_thread(EndpointConfig(shards=2, stream="stall")) as (url, server):
        server.script([{"kind": "stall", "seconds": 60}] * 50)
        yield url


@pytest.mark.parametrize("how", ["deadline", "second-sigint"])
def test_shutdown_with_kinesis_stalled(stalling_endpoint: str, tmp_path: Path, how: str) -> None:
    """With every call stalled, SIGTERM drains until the deadline (exit 0, `shutdown deadline`);
    a second SIGINT exits at once (exit 130, `interrupted`); either way every record held is in
    the dead-letter file and the summary is the last line."""
    dead = tmp_path / "dead.ndjson"
    deadline = "1" if how == "deadline" else "30"
    daemon = Daemon(
        [
            *("--stream", "stall", "--region", REGION, "--endpoint-url", stalling_endpoint),
            *("--input", "tcp://127.0.0.1:0", "--metrics-address", "127.0.0.1:0"),
            *("--dead-letter", str(dead), "--drain-deadline-s", deadline),
            *("--linger-ms", "1", "--shard-rate-factor", "0", "--request-timeout-s", "120"),
        ],
        tmp_path,
    )
    try:
        ready = daemon.wait_for("accepting input")
        send(ready["inputs"][0], b"".join(event(1, i) + b"\n" for i in range(300)))
        until(lambda: scrape(ready["status"])["streamer_in_flight_records"] > 0)
        until(lambda: scrape(ready["status"])["streamer_records_received_total"] == 300)
        if how == "deadline":
            daemon.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            rc, summary = daemon.finish(10)
            assert 0.9 <= time.monotonic() - started < 5
        else:
            daemon.proc.send_signal(signal.SIGINT)
            daemon.wait_for("signal received, draining")
            assert get(ready["status"] + "/readyz")[0] == 503
            assert daemon.proc.poll() is None, "the drain waits for the stalled calls"
            started = time.monotonic()
            daemon.proc.send_signal(signal.SIGINT)
            rc, summary = daemon.finish(10)
            assert time.monotonic() - started < 3
    finally:
        daemon.kill()
    assert rc == (0 if how == "deadline" else 130)
    assert summary["event"] == "summary"
    assert summary["dead_lettered"] == 300
    assert summary["delivered"] == 0
    reasons = [orjson.loads(line)["reason"] for line in dead.read_bytes().splitlines()]
    assert len(reasons) == 300
    prefix = "shutdown deadline" if how == "deadline" else "interrupted"
    assert all(r.startswith(prefix) for r in reasons)


def test_sigterm_with_stdin_still_open(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """SIGTERM ends a stdin-fed daemon whose stdin is still open, after delivering its lines."""
    stream = new_stream(1)
    daemon = Daemon(
        [
            *("--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
            *("--dead-letter", str(tmp_path / "d"), "--linger-ms", "1"),
            *("--metrics-address", "127.0.0.1:0"),
        ],
        tmp_path,
        stdin=subprocess.PIPE,
    )
    try:
        ready = daemon.wait_for("accepting input")
        assert ready["inputs"] == ["stdin"]
        assert daemon.proc.stdin is not None
        daemon.proc.stdin.write(b"".join(event(1, i) + b"\n" for i in range(10)))
        daemon.proc.stdin.flush()
        until(lambda: scrape(ready["status"])["streamer_records_delivered_total"] == 10)
        daemon.proc.send_signal(signal.SIGTERM)
        rc, summary = daemon.finish(10)
    finally:
        daemon.kill()
        if daemon.proc.stdin is not None:
            daemon.proc.stdin.close()
    assert rc == 0
    assert summary["delivered"] == 10


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        streamer_cmd("check", *args),
        env=env if env is not None else aws_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_check_reports_each_start_up_check(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """`streamer check --config FILE` reports config, credentials, stream and shard map, exit 0;
    the destination's name and description are in the report; the secret is nowhere."""
    stream = new_stream(3)
    secret = "CheckSecretValue/abcdefghijklmnop1234567890"
    config = tmp_path / "streamer.toml"
    config.write_text(
        f'name = "Kinesis - production"\ndescription = "Profiles for the CRM team"\n'
        f'stream = "{stream}"\nregion = "{REGION}"\nendpoint_url = "{moto_url}"\n'
        f'access_key_id = "AKIATESTKEY"\nsecret_access_key = "{secret}"\n'
        f'[daemon]\ninputs = ["tcp://:7000", "unix:///run/streamer/in.sock"]\n'
        f'metrics_address = "127.0.0.1:9108"\nlog_level = "debug"\n'
    )
    proc = check("--config", str(config))
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    assert "Kinesis - production: Profiles for the CRM team" in out
    assert f"{stream} in {REGION}" in out
    assert "ACTIVE, 3 open shards" in out
    assert "tcp://127.0.0.1:7000, unix:///run/streamer/in.sock" in out
    assert out.strip().endswith("all checks passed")
    assert secret.encode() not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("unknown stream", 3, "stream 'no-such-stream' does not exist"),
        ("invalid config", 2, "--request-timeout-s must be between 0.001 and 3600, not 0"),
        ("unreachable endpoint", 6, "unreachable"),
        ("missing credentials", 5, "no AWS credentials found"),
        ("bad input", 2, "input 'udp://x:1' has an unknown scheme"),
    ],
)
def test_check_failures(moto_url: str, case: str, code: int, message: str) -> None:
    """Each start-up failure: one sentence on stderr, its own exit code, as `run` would."""
    args = ["--stream", "no-such-stream", "--region", REGION, "--endpoint-url", moto_url]
    env = aws_env()
    if case == "invalid config":
        args += ["--request-timeout-s", "0"]
    elif case == "unreachable endpoint":
        args[-1] = "http://127.0.0.1:9"
    elif case == "missing credentials":
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(key)
        env.update(AWS_SHARED_CREDENTIALS_FILE="/nonexistent", AWS_CONFIG_FILE="/nonexistent")
    elif case == "bad input":
        args += ["--input", "udp://x:1"]
    proc = check(*args, env=env)
    assert proc.returncode == code, proc.stderr.decode()
    last = proc.stderr.decode().strip().splitlines()[-1]
    assert last.startswith("streamer: ")
    assert message in last


def test_console_log_format(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """`--log-format console` logs readable lines, with the destination's name and description
    at start-up and the summary last; the secret from the config file never appears."""
    stream = new_stream(1)
    secret = "ConsoleSecretValue/abcdefghijklmnop12345678"
    config = tmp_path / "c.toml"
    config.write_text(
        f'name = "Console dest"\ndescription = "for humans"\nstream = "{stream}"\n'
        f'region = "{REGION}"\nendpoint_url = "{moto_url}"\n'
        f'access_key_id = "AKIATESTKEY"\nsecret_access_key = "{secret}"\n'
    )
    proc = run_streamer(
        [
            *("run", "--config", str(config), "--log-format", "console", "--log-level", "debug"),
            *("--dead-letter", str(tmp_path / "d"), "--progress", "--progress-interval-s", "0.05"),
        ],
        b"".join(event(1, i) + b"\n" for i in range(20)),
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    lines = err.strip().splitlines()
    start = next(line for line in lines if "stream ready" in line)
    assert "destination='Console dest'" in start
    assert "description='for humans'" in start
    assert not start.startswith("{")
    assert "summary" in lines[-1]
    assert "delivered=20" in lines[-1]
    assert secret not in err + proc.stdout.decode()
