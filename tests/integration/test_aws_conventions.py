"""AWS conventions over real HTTP: a role assumed through moto's STS (and refreshed mid-stream
with no record lost), a stream named by ARN, the record limit and mode read from the stream, and
every start-up failure one sentence with its exit code, never a traceback."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from local_kinesis import REGION, read_all

from streamer import config
from streamer.aws import AwsKinesis
from streamer.daemon import Daemon
from streamer.errors import ExitCode
from streamer.stats import Stats
from tests.support.answering import serve_answers
from tests.support.events import dead_letters
from tests.support.processes import aws_env, run_streamer, streamer_cmd

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
"""moto's default account: a role there writes to the streams the fixtures create."""
ROLE = f"arn:aws:iam::{ACCOUNT}:role/streamer-writer"
SEGMENT = "seg-a"


def event(i: int, pad: int = 0) -> bytes:
    body: dict[str, Any] = {
        "_id": f"e{i}",
        "segmentMembership": {
            "ups": {
                SEGMENT: {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": "realized"}
            }
        },
        "identityMap": {"ecid": [{"id": f"k{i % 50}"}]},
    }
    if pad:
        body["person"] = {"bio": "x" * pad}
    return orjson.dumps(body)


def arn_of(stream: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{stream}"


def check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        streamer_cmd("check", *args),
        env=env if env is not None else aws_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )


def one_sentence(proc: subprocess.CompletedProcess[bytes]) -> str:
    """The failure's last stderr line, after checking there is no traceback."""
    err = proc.stderr.decode()
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("streamer: "), err
    return last


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/x-amz-json-1.1"
    )


@dataclasses.dataclass
class LargeStream:
    """A Kinesis endpoint whose stream reports a 2 MiB record limit and on-demand mode."""

    url: str
    sizes: list[int]


@pytest.fixture
def large_stream() -> Iterator[LargeStream]:
    sizes: list[int] = []

    async def answer(request: web.Request) -> web.Response:
        action = request.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        body = orjson.loads(await request.read())
        if action == "DescribeStreamSummary":
            return _json(
                {
                    "StreamDescriptionSummary": {
                        "StreamName": "big",
                        "StreamARN": f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/big",
                        "StreamStatus": "ACTIVE",
                        "StreamModeDetails": {"StreamMode": "ON_DEMAND"},
                        "OpenShardCount": 1,
                        "MaxRecordSizeInKiB": 2048,
                    }
                }
            )
        if action == "ListShards":
            shard = {
                "ShardId": "shardId-000000000000",
                "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)},
                "SequenceNumberRange": {"StartingSequenceNumber": "1"},
            }
            return _json({"Shards": [shard]})
        if action == "PutRecords":
            records = body["Records"]
            sizes.extend(len(r["Data"]) for r in records)
            results = [{"ShardId": "shardId-000000000000", "SequenceNumber": "1"} for _ in records]
            return _json({"FailedRecordCount": 0, "Records": results})
        return _json({"__type": "UnknownOperationException", "message": action}, status=400)

    for url in serve_answers(answer, max_body_bytes=32 * 2**20):
        yield LargeStream(url, sizes)


@pytest.fixture
def shards_refused() -> Iterator[str]:
    """A Kinesis endpoint that describes its stream but refuses ListShards to the caller."""

    async def answer(request: web.Request) -> web.Response:
        if request.headers.get("X-Amz-Target", "").endswith("DescribeStreamSummary"):
            summary = {"StreamName": "s", "StreamStatus": "ACTIVE", "OpenShardCount": 1}
            return _json({"StreamDescriptionSummary": summary})
        message = "User is not authorized to perform: kinesis:ListShards"
        return _json({"__type": "AccessDeniedException", "message": message}, status=400)

    yield from serve_answers(answer, max_body_bytes=32 * 2**20)


@pytest.fixture
def refusing_sts() -> Iterator[str]:
    """An STS endpoint that refuses AssumeRole as AWS does for a role the caller may not use."""

    async def refuse(request: web.Request) -> web.Response:
        xml = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
            "<Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::"
            f"{ACCOUNT}:user/u is not authorized to perform: sts:AssumeRole on resource: "
            f"{ROLE}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
        )
        return web.Response(status=403, text=xml, content_type="text/xml")

    yield from serve_answers(refuse)


# -- start-up failures: one sentence, the documented code ------------------------------------
@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("invalid region", ExitCode.CONFIG, "region 'not a region!'"),
        ("https to a plain-HTTP port", ExitCode.UNREACHABLE, "SSL"),
        ("unknown profile", ExitCode.CREDENTIALS, "could not be loaded"),
        ("stream and stream ARN", ExitCode.CONFIG, "give either --stream or --stream-arn"),
        ("region differs from the ARN's", ExitCode.CONFIG, "differs from the stream ARN's"),
        ("malformed ARN", ExitCode.CONFIG, "is not a Kinesis stream ARN"),
        ("missing stream by ARN", ExitCode.STREAM_MISSING, "does not exist"),
        ("role ARN malformed", ExitCode.CONFIG, "is not an IAM role ARN"),
        ("STS unreachable", ExitCode.UNREACHABLE, "unreachable when assuming role"),
    ],
)
def test_start_up_failures(moto_url: str, case: str, code: int, message: str) -> None:
    """Each start-up failure is one sentence on stderr with its exit code, never a traceback."""
    args = ["--stream", "no-such-stream", "--region", REGION, "--endpoint-url", moto_url]
    env = aws_env()
    if case == "invalid region":
        args[3] = "not a region!"
    elif case == "https to a plain-HTTP port":
        args[-1] = moto_url.replace("http://", "https://")
    elif case == "unknown profile":
        args += ["--profile", "no-such-profile"]
        env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    elif case == "stream and stream ARN":
        args += ["--stream-arn", arn_of("x")]
    elif case == "region differs from the ARN's":
        args = ["--stream-arn", arn_of("x"), "--region", "us-east-1"]
    elif case == "malformed ARN":
        args = ["--stream-arn", f"arn:aws:kinesis:{REGION}:{ACCOUNT}:x"]
    elif case == "missing stream by ARN":
        args = ["--stream-arn", arn_of("no-such-stream"), "--endpoint-url", moto_url]
    elif case == "role ARN malformed":
        args += ["--role-arn", "writer"]
    elif case == "STS unreachable":
        args += ["--role-arn", ROLE]
        env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:9"
    proc = check(*args, env=env)
    assert proc.returncode == code, proc.stderr.decode()
    assert message in one_sentence(proc)


def test_role_that_cannot_be_assumed(moto_url: str, refusing_sts: str) -> None:
    """STS refusing AssumeRole is exit 5 with one sentence naming the role and the code."""
    env = aws_env(AWS_ENDPOINT_URL_STS=refusing_sts)
    args = ["--stream", "s", "--region", REGION, "--endpoint-url", moto_url, "--role-arn", ROLE]
    proc = check(*args, "--external-id", "tenant-42", env=env)
    assert proc.returncode == ExitCode.CREDENTIALS, proc.stderr.decode()
    last = one_sentence(proc)
    assert f"role {ROLE} cannot be assumed" in last
    assert "AccessDenied" in last


def test_list_shards_refused(shards_refused: str) -> None:
    """ListShards refused at start-up (the policy lacks kinesis:ListShards) is exit 5."""
    proc = check("--stream", "s", "--region", REGION, "--endpoint-url", shards_refused)
    assert proc.returncode == ExitCode.CREDENTIALS, proc.stderr.decode()
    last = one_sentence(proc)
    assert "AccessDeniedException" in last
    assert "listing the shards of stream 's'" in last


# -- a stream by ARN, a role, limits read from the stream --------------------------------------
@pytest.mark.parametrize("transport", ["fast", "botocore"])
def test_stream_by_arn_through_an_assumed_role(
    moto_url: str, new_stream: Any, tmp_path: Path, transport: str
) -> None:
    """`--stream-arn` (no region: the ARN's) with `--role-arn`: check passes, every record is
    read back once; the start-up line logs the stream's mode and record limit."""
    stream = new_stream(2)
    env = aws_env(AWS_ENDPOINT_URL_STS=moto_url)
    where = ["--stream-arn", arn_of(stream), "--endpoint-url", moto_url]
    role = ["--role-arn", ROLE, "--external-id", "tenant-42", "--role-session-name", "it"]
    proc = check(*where, *role, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "PROVISIONED" in out
    assert "up to 1048576 bytes each (default)" in out
    n = 300
    proc = run_streamer(
        [
            "run",
            *where,
            *role,
            *("--transport", transport, "--dead-letter", str(tmp_path / "d")),
            *("--linger-ms", "5", "--shard-rate-factor", "0"),
        ],
        b"".join(event(i) + b"\n" for i in range(n)),
        env=env,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    lines = [orjson.loads(line) for line in err.strip().splitlines()]
    ready = next(line for line in lines if line["event"] == "stream ready")
    assert (ready["stream"], ready["mode"], ready["max_record_bytes"]) == (
        stream,
        "PROVISIONED",
        2**20,
    )
    assert lines[-1]["delivered"] == n
    got = asyncio.run(read_all(moto_url, stream))
    assert sorted(orjson.loads(r["data"])["_id"] for r in got) == sorted(f"e{i}" for i in range(n))


def test_record_limit_follows_the_stream(large_stream: LargeStream, tmp_path: Path) -> None:
    """A stream reporting 2 MiB records takes a 1.5 MiB record with no setting; check shows the
    mode and limit; a configured limit above the stream's is exit 2, one sentence."""
    where = ["--stream", "big", "--region", REGION, "--endpoint-url", large_stream.url]
    proc = check(*where)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "ON_DEMAND" in out
    assert "up to 2097152 bytes each (stream)" in out

    proc = check(*where, "--max-record-bytes", str(3 * 2**20))
    assert proc.returncode == ExitCode.CONFIG, proc.stderr.decode()
    assert "above the stream's record limit (2097152 bytes" in one_sentence(proc)

    dead = tmp_path / "d"
    big = 1_500_000
    proc = run_streamer(
        ["run", *where, "--dead-letter", str(dead), "--shard-rate-factor", "0"],
        event(1, pad=big) + b"\n" + event(2) + b"\n",
    )
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    ready = next(orjson.loads(x) for x in err.splitlines() if "stream ready" in x)
    assert (ready["mode"], ready["max_record_bytes"], ready["stream_max_record_kib"]) == (
        "ON_DEMAND",
        2 * 2**20,
        2048,
    )
    assert orjson.loads(err.strip().splitlines()[-1])["delivered"] == 2
    assert max(large_stream.sizes) > big  # base64 of the 1.5 MiB record went out whole
    assert not dead.exists() or dead_letters(dead) == []


# -- refresh mid-stream ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("transport", "jump", "window"),
    [
        ("fast", timedelta(minutes=47), "advisory"),
        ("botocore", timedelta(minutes=55), "mandatory"),
    ],
)
def test_role_refreshed_mid_stream(
    moto_url: str,
    new_stream: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    jump: timedelta,
    window: str,
) -> None:
    """Half-way through, the role's first session (one hour) looks 13 (advisory) or 5
    (mandatory) minutes from expiry on the injected clock: it is refreshed once by AssumeRole,
    and every record is delivered, none dead-lettered."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_url)
    for key, value in aws_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    stream = new_stream(2)
    cfg = config.build(
        {
            "stream_arn": arn_of(stream),
            "endpoint_url": moto_url,
            "role_arn": ROLE,
            "external_id": "tenant-42",
            "transport": transport,
            "dead_letter": str(tmp_path / "dead.ndjson"),
            "linger_ms": 0,
            "shard_rate_factor": 0.0,
        }
    )
    state = {"late": False}
    opened: list[AwsKinesis] = []

    def clock() -> datetime:
        """Real time, shifted by `jump` from half-way until the role has been refreshed."""
        now = datetime.now(UTC)
        if state["late"] and opened and opened[0].role_sessions == 1:
            return now + jump
        return now

    n, chunks = 400, 8

    async def source() -> AsyncIterator[bytes]:
        per = n // chunks
        for c in range(chunks):
            if c == chunks // 2:
                state["late"] = True
            yield b"".join(event(i) + b"\n" for i in range(c * per, (c + 1) * per))

    async def run() -> Stats:
        aws = dataclasses.replace(config.aws_settings(cfg), clock=clock)
        async with AwsKinesis(aws) as client:
            opened.append(client)
            assert client.role_sessions == 1
            daemon = Daemon(cfg, client, sources={"test": source}, install_signals=False)
            return await daemon.run()

    stats = asyncio.run(run())
    assert opened[0].role_sessions == 2, window
    assert stats.delivered == n
    assert stats.dead_lettered_delivery == 0
    got = asyncio.run(read_all(moto_url, stream))
    assert len({orjson.loads(r["data"])["_id"] for r in got}) == n
