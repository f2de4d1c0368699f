"""The real daemon process against moto's Kinesis server over HTTP: everything sent is read
back with GetRecords, with the right content, partition key and shard, exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from local_kinesis import REGION, _client, read_all

from tests.support.processes import aws_env, run_streamer

pytestmark = pytest.mark.integration

SEGMENTS = ["seg-a", "seg-b", "seg-c"]


def event(i: int) -> dict[str, Any]:
    when = "2026-11-28T10:00:00Z"
    email = f"user{i}@example.com"
    return {
        "_id": f"e{i}",
        "person": {"email": email, "name": {"lastName": f"L{i}"}},
        "mobilePhone": {"number": f"+3160000{i:05d}"},
        "segmentMembership": {
            "ups": {
                SEGMENTS[i % 3]: {"lastQualificationTime": when, "status": "realized"},
                SEGMENTS[(i + 1) % 3]: {"lastQualificationTime": when, "status": "exited"},
            }
        },
        "identityMap": {
            "ecid": [{"id": f"{10**37 + i}"}],
            "email_lc_sha256": [{"id": hashlib.sha256(email.encode()).hexdigest()}],
        },
    }


def expected_shard(shards: list[dict[str, Any]], key: str) -> str:
    h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    for shard in shards:
        rng = shard["HashKeyRange"]
        if int(rng["StartingHashKey"]) <= h <= int(rng["EndingHashKey"]):
            return str(shard["ShardId"])
    raise AssertionError("no shard covers the key")


async def list_shards(url: str, stream: str) -> list[dict[str, Any]]:
    async with _client(url) as client:
        return list((await client.list_shards(StreamName=stream))["Shards"])


def test_100k_events_into_4_shards_all_read_back(
    moto_url: str, new_stream: Any, tmp_path: Path
) -> None:
    """100k events piped through `streamer run` arrive once each, correct and on the right shard."""
    n = 100_000
    stream = new_stream(4)
    bad = [b"{broken", b'"a string"', b'{"segmentMembership": {"ups": {}}}']
    lines = [orjson.dumps(event(i)) for i in range(n)]
    stdin = b"\n".join(lines[:10] + bad + lines[10:]) + b"\n"
    dead = tmp_path / "dead.ndjson"
    proc = run_streamer(
        [
            "run",
            "--stream",
            stream,
            "--region",
            REGION,
            "--endpoint-url",
            moto_url,
            "--dead-letter",
            str(dead),
            "--shard-rate-factor",
            "0",
        ],
        stdin,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = orjson.loads(proc.stderr.splitlines()[-1])
    assert summary["received"] == n + 3
    assert summary["delivered"] == n
    assert summary["dead_lettered"] == 3
    for key in ("exported", "filtered", "retried", "elapsed_s", "records_per_s"):
        assert key in summary

    records = asyncio.run(read_all(moto_url, stream))
    shards = asyncio.run(list_shards(moto_url, stream))
    assert len(records) == n
    seen: Counter[int] = Counter()
    for rec in records:
        body = orjson.loads(rec["data"])
        i = int(body["_id"][1:])
        seen[i] += 1
        assert body == event(i)
        assert rec["partition_key"] == f"{10**37 + i}"
        assert rec["shard_id"] == expected_shard(shards, rec["partition_key"])
    assert len(seen) == n
    assert max(seen.values()) == 1
    assert len({r["shard_id"] for r in records}) == 4

    reasons = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [r["line_no"] for r in reasons] == [11, 12, 13]
    assert "not valid JSON" in reasons[0]["reason"]
    assert "not a JSON object" in reasons[1]["reason"]
    assert "no identityMap" in reasons[2]["reason"]


@pytest.mark.parametrize("transport", ["fast", "botocore"])
def test_activation_config_and_both_transports(
    moto_url: str, new_stream: Any, tmp_path: Path, transport: str
) -> None:
    """Mapped segments, selected attributes and segment names from a TOML file shape the record."""
    stream = new_stream(2)
    config = tmp_path / "streamer.toml"
    config.write_text(
        f"""
name = "Test destination"
description = "integration"
stream = "{stream}"
region = "{REGION}"
endpoint_url = "{moto_url}"
attributes = ["person.email"]
include_segment_names = true
partition_key = "email_lc_sha256"
[[segments]]
id = "seg-a"
name = "High propensity"
[producer]
transport = "{transport}"
linger_ms = 5
"""
    )
    proc = run_streamer(
        ["run", "--config", str(config), "--dead-letter", str(tmp_path / "d.ndjson")],
        b"\n".join(orjson.dumps(event(i)) for i in range(300)),
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    summary = orjson.loads(proc.stderr.splitlines()[-1])
    # seg-a is in events with i % 3 in (0, 2): the rest are filtered.
    expected = [i for i in range(300) if i % 3 != 1]
    assert summary["filtered"] == 300 - len(expected)
    records = asyncio.run(read_all(moto_url, stream))
    assert len(records) == len(expected)
    by_key = {r["partition_key"]: orjson.loads(r["data"]) for r in records}
    for i in expected:
        ev = event(i)
        key = ev["identityMap"]["email_lc_sha256"][0]["id"]
        body = by_key[key]
        assert body["person"] == {"email": ev["person"]["email"]}
        assert "mobilePhone" not in body
        assert set(body["segmentMembership"]["ups"]) == {"seg-a"}
        assert body["segmentMembership"]["ups"]["seg-a"]["name"] == "High propensity"
        assert body["identityMap"] == ev["identityMap"]
    assert b"integration" in proc.stderr  # the description is in the start-up line


def test_unknown_stream_fails_at_start_up(moto_url: str, tmp_path: Path) -> None:
    """A missing stream exits 3 with one sentence, before reading input."""
    proc = run_streamer(
        ["run", "--stream", "no-such-stream", "--region", REGION, "--endpoint-url", moto_url],
        b"",
    )
    assert proc.returncode == 3
    assert b"stream 'no-such-stream' does not exist" in proc.stderr


def test_invalid_config_exits_2(tmp_path: Path) -> None:
    """A config error exits 2 with a sentence naming the setting."""
    config = tmp_path / "bad.toml"
    config.write_text('stream = "s"\nregion = "eu-west-1"\n[producer]\nwriters = 0\n')
    proc = run_streamer(["run", "--config", str(config)], b"")
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "streamer: writers must be between 1 and 1024, not 0"


def test_unreachable_endpoint_exits_6(tmp_path: Path) -> None:
    """A closed port exits 6 saying the endpoint is unreachable."""
    proc = run_streamer(
        ["run", "--stream", "s", "--region", REGION, "--endpoint-url", "http://127.0.0.1:9"],
        b"",
    )
    assert proc.returncode == 6, proc.stderr.decode()
    assert b"unreachable" in proc.stderr


def test_missing_credentials_exit_5(moto_url: str) -> None:
    """With no credentials anywhere, start-up exits 5 before reading input."""
    env = aws_env()
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(key)
    env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent"
    env["AWS_CONFIG_FILE"] = "/nonexistent"
    proc = run_streamer(
        ["run", "--stream", "s", "--region", REGION, "--endpoint-url", moto_url], b"", env=env
    )
    assert proc.returncode == 5, proc.stderr.decode()
    assert b"no AWS credentials found" in proc.stderr


def test_secret_never_logged(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """The secret key from the config file appears nowhere in the output."""
    stream = new_stream(1)
    secret = "SuperSecretValue/1234567890abcdefghijkl"
    config = tmp_path / "c.toml"
    config.write_text(
        f'stream = "{stream}"\nregion = "{REGION}"\nendpoint_url = "{moto_url}"\n'
        f'access_key_id = "AKIATESTKEY"\nsecret_access_key = "{secret}"\n'
        '[daemon]\nlog_level = "debug"\n'
    )
    proc = run_streamer(
        ["run", "--config", str(config), "--dead-letter", str(tmp_path / "d")],
        orjson.dumps(event(1)) + b"\n",
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert secret.encode() not in proc.stderr + proc.stdout


def test_help_explains_every_option() -> None:
    """`streamer run --help` and `python -m streamer --help` describe the options."""
    top = subprocess.run(
        [sys.executable, "-m", "streamer", "--help"], capture_output=True, check=True
    )
    run = subprocess.run(
        [sys.executable, "-m", "streamer", "run", "--help"], capture_output=True, check=True
    )
    assert b"run" in top.stdout
    for flag in (b"--stream", b"--region", b"--endpoint-url", b"--config", b"--dead-letter"):
        assert flag in run.stdout
