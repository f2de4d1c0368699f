"""The benchmark peers deliver every event exactly once to a real Kinesis-compatible server.

Each peer runs as a subprocess fed 2,000 events on stdin and talks to moto's server through a
small proxy, which serializes PutRecords (moto's shard append is not thread-safe: concurrent
requests can overwrite each other's records) and, in the "faulty" runs, fails some entries once
(ProvisionedThroughputExceededException) without writing them. The stream is then read back
with GetRecords and compared with the export records of the input. The shared export helpers and
the hand-written loop's batching and retries are tested first, with a fake client.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

pytest.importorskip("kinesis")

from aiobotocore.session import get_session
from moto.server import ThreadedMotoServer

from benchmarks.peers import boto_loop
from benchmarks.peers.common import (
    MAX_RECORD_BYTES,
    MAX_RECORDS_PER_REQUEST,
    MAX_REQUEST_BYTES,
    ExportError,
    Record,
    Tally,
    export,
    partition_key,
    read_line_batches,
    split_lines,
)

REPO = Path(__file__).resolve().parents[2]
EVENTS = 2_000
REGION = "us-east-1"
INJECTED_CODE = "ProvisionedThroughputExceededException"
PEERS = {
    "boto_loop": ["benchmarks.peers.boto_loop"],
    "async_kinesis_off": ["benchmarks.peers.async_kinesis_peer", "--aggregation", "off"],
    "async_kinesis_on": ["benchmarks.peers.async_kinesis_peer", "--aggregation", "on"],
}


def _event(i: int) -> dict[str, Any]:
    identities: dict[str, Any] = {"ecid": [{"id": f"{10**12 + i}"}]}
    if i % 10 == 0:
        identities = {"email": [{"id": f"p{i}@example.com"}], "ecid": []}
    return {
        "_id": f"e{i}",
        "person": {"email": f"p{i}@example.com"},
        "segmentMembership": {
            "ups": {"seg": {"lastQualificationTime": "2026-01-01T00:00:00Z", "status": "realized"}}
        },
        "identityMap": identities,
    }


@pytest.mark.parametrize(
    ("identity_map", "expected"),
    [
        ({"ecid": [{"id": "123"}, {"id": "456"}]}, "123"),
        ({"email": [{"id": "a@b.c"}], "ecid": [{"id": "123"}]}, "123"),
        ({"email": [{"id": "a@b.c"}], "crmid": [{"id": "9"}]}, "a@b.c"),
        ({"email": [{"id": "a@b.c"}], "ecid": []}, "a@b.c"),
    ],
)
def test_partition_key_prefers_ecid_then_first_namespace(
    identity_map: dict[str, Any], expected: str
) -> None:
    """The key is the first ecid, else the first id of the first namespace."""
    assert partition_key({"identityMap": identity_map}) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b"[1, 2]",
        b'{"_id": "e1"}',
        b'{"identityMap": {}}',
        b'{"identityMap": {"ecid": []}}',
    ],
)
def test_export_rejects_lines_without_a_key(line: bytes) -> None:
    """Lines that are not objects or have no identity raise ExportError."""
    with pytest.raises(ExportError):
        export(line)


def test_export_reencodes_the_whole_event_compactly() -> None:
    """The record is the same object as compact orjson, keyed by its ecid."""
    line = b'{ "a" : [1, 2],\t"identityMap": {"ecid": [{"id": "7"}]} }\r'
    assert export(line) == Record(b'{"a":[1,2],"identityMap":{"ecid":[{"id":"7"}]}}', "7")


def test_export_rejects_records_over_the_size_limit() -> None:
    """A record larger than 1 MiB with its key is refused before sending."""
    line = orjson.dumps({"x": "y" * MAX_RECORD_BYTES, "identityMap": {"ecid": [{"id": "1"}]}})
    with pytest.raises(ExportError, match="exceeds"):
        export(line)


def test_split_lines_drops_blank_lines_and_keeps_the_tail() -> None:
    """Complete non-blank lines come out; the unfinished line waits for the next chunk."""
    assert split_lines(b'{"a"', b':1}\n\n  \n{"b":2}\n{"c"') == ([b'{"a":1}', b'{"b":2}'], b'{"c"')


def test_read_line_batches_reassembles_lines_split_across_chunks() -> None:
    """Lines cut by small reads come out whole; blank lines and a missing final newline are fine."""
    data = b'{"a":1}\n\n{"bb":2}\n  \n{"c":3}'

    async def collect() -> list[bytes]:
        stream = io.BufferedReader(io.BytesIO(data))
        return [line async for batch in read_line_batches(stream, chunk_bytes=3) for line in batch]

    assert asyncio.run(collect()) == [b'{"a":1}', b'{"bb":2}', b'{"c":3}']


class FakeKinesis:
    """A PutRecords stand-in: fails each entry at an index % 3 == 0 once, or misreports counts."""

    def __init__(self, *, short_reply: bool = False, always_fail: bool = False) -> None:
        self.requests: list[list[dict[str, Any]]] = []
        self.delivered: list[bytes] = []
        self.short_reply = short_reply
        self.always_fail = always_fail
        self._seen: set[bytes] = set()

    async def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Records)
        if self.short_reply:
            return {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1"}]}
        results: list[dict[str, Any]] = []
        for i, entry in enumerate(Records):
            if self.always_fail or (i % 3 == 0 and entry["Data"] not in self._seen):
                self._seen.add(entry["Data"])
                results.append({"ErrorCode": "InternalFailure", "ErrorMessage": "fake"})
            else:
                self.delivered.append(entry["Data"])
                results.append({"SequenceNumber": "1", "ShardId": "shardId-000000000000"})
        failed = sum("ErrorCode" in result for result in results)
        return {"FailedRecordCount": failed, "Records": results}


def _records(small: int, large: int) -> list[Record]:
    pad = "x" * (900 * 1024)
    records = [Record(orjson.dumps({"i": i}), f"k{i}") for i in range(small)]
    records += [Record(orjson.dumps({"i": -i, "pad": pad}), f"big{i}") for i in range(large)]
    return records


def test_boto_loop_writer_respects_limits_and_resubmits_only_failed_entries() -> None:
    """Batches stay within 500 entries and 5 MiB; each record is delivered exactly once."""
    records = _records(small=1_203, large=14)
    client, tally = FakeKinesis(), Tally()

    async def drive() -> None:
        queue: asyncio.Queue[Record | None] = asyncio.Queue()
        for record in [*records, None]:
            queue.put_nowait(record)
        await boto_loop.writer(client, "s", queue, tally, max_attempts=5)

    asyncio.run(drive())

    for request in client.requests:
        assert len(request) <= MAX_RECORDS_PER_REQUEST
        assert sum(len(e["Data"]) + len(e["PartitionKey"]) for e in request) <= MAX_REQUEST_BYTES
    assert Counter(client.delivered) == Counter(record.data for record in records)
    assert tally.sent_ok == len(records)
    assert tally.failed == 0
    assert tally.entry_errors["InternalFailure"] > 0


@pytest.mark.parametrize(
    ("client", "requests"),
    [(FakeKinesis(short_reply=True), 1), (FakeKinesis(always_fail=True), 3)],
    ids=["result-count-mismatch", "attempts-exhausted"],
)
def test_boto_loop_gives_up_on_a_batch_without_guessing(client: FakeKinesis, requests: int) -> None:
    """A short reply fails the batch at once; endless entry errors stop after max_attempts."""
    tally = Tally()
    asyncio.run(boto_loop.put_until_done(client, "s", _records(4, 0), tally, max_attempts=3))
    assert len(client.requests) == requests
    assert (tally.sent_ok, tally.failed) == (0, 4)
    assert client.delivered == []


class MotoProxy:
    """HTTP proxy to moto sending one PutRecords at a time, optionally failing some entries.

    With `fail_every=n`, every entry at an index divisible by n fails on its first sight: it is
    answered with an ErrorCode and not forwarded, as Kinesis does, so a peer that resubmits only
    failed entries delivers every event exactly once.
    """

    def __init__(self, upstream: str, fail_every: int | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fail_every = fail_every
        self.injected: Counter[str] = Counter()
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._put_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def forward(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """Send one request to moto; return its status, content type and body."""
        connection = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type", ""), response.read()
        finally:
            connection.close()

    def put_records(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        """Fail the chosen entries, forward the rest, merge the results in request order."""
        request = json.loads(body)
        stream, entries = request.get("StreamName", ""), request["Records"]
        failing: set[int] = set()
        with self._lock:
            for i, entry in enumerate(entries):
                sighting = (stream, entry["Data"])
                if self.fail_every and sighting not in self._seen:
                    self._seen.add(sighting)
                    if i % self.fail_every == 0:
                        failing.add(i)
            self.injected[stream] += len(failing)
        kept = [entry for i, entry in enumerate(entries) if i not in failing]
        upstream: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
        content_type = "application/x-amz-json-1.1"
        if kept:
            forwarded = json.dumps({**request, "Records": kept}).encode()
            with self._put_lock:
                status, content_type, reply = self.forward(forwarded, headers)
            if status != 200:
                return status, content_type, reply
            upstream = json.loads(reply)
        results = iter(upstream["Records"])
        merged = [
            {"ErrorCode": INJECTED_CODE, "ErrorMessage": "injected"}
            if i in failing
            else next(results)
            for i in range(len(entries))
        ]
        failed = upstream["FailedRecordCount"] + len(failing)
        payload = {"FailedRecordCount": failed, "Records": merged}
        return 200, content_type, json.dumps(payload).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                skip = {"host", "content-length", "connection"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                if self.headers.get("X-Amz-Target", "").endswith(".PutRecords"):
                    status, content_type, reply = proxy.put_records(body, headers)
                else:
                    status, content_type, reply = proxy.forward(body, headers)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


@pytest.fixture(scope="module", autouse=True)
def _aws_credentials() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        yield


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def proxies(moto_url: str) -> Iterator[dict[str, MotoProxy]]:
    running = {"clean": MotoProxy(moto_url), "faulty": MotoProxy(moto_url, fail_every=4)}
    for proxy in running.values():
        proxy.start()
    yield running
    for proxy in running.values():
        proxy.stop()


@pytest.fixture(scope="module")
def events() -> bytes:
    lines = [orjson.dumps(_event(i)) for i in range(EVENTS)]
    for i in range(0, EVENTS, 500):
        lines.insert(i, b"   ")
    return b"\n".join(lines) + b"\n\n"


def _client(url: str) -> Any:
    return get_session().create_client("kinesis", endpoint_url=url, region_name=REGION)


async def _create_stream(url: str, stream: str) -> None:
    async with _client(url) as client:
        await client.create_stream(StreamName=stream, ShardCount=2)
        await client.get_waiter("stream_exists").wait(
            StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )


async def _read_stream(url: str, stream: str) -> list[Record]:
    async with _client(url) as client:
        shards = (await client.list_shards(StreamName=stream))["Shards"]
        found: list[Record] = []
        for shard in shards:
            iterator = (
                await client.get_shard_iterator(
                    StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
                )
            )["ShardIterator"]
            while iterator:
                reply = await client.get_records(ShardIterator=iterator, Limit=10_000)
                if not reply["Records"]:
                    break
                found += [Record(r["Data"], r["PartitionKey"]) for r in reply["Records"]]
                iterator = reply.get("NextShardIterator")
        return found


def _run_peer(module: list[str], url: str, stream: str, stdin: bytes) -> dict[str, Any]:
    command = [sys.executable, "-m", *module, "--endpoint-url", url, "--stream", stream]
    done = subprocess.run(
        [*command, "--region", REGION],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, done.stdout
    return dict(orjson.loads(lines[0]))


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["clean", "faulty"])
@pytest.mark.parametrize("peer", list(PEERS))
def test_peer_delivers_every_event_exactly_once(
    peer: str, mode: str, moto_url: str, proxies: dict[str, MotoProxy], events: bytes
) -> None:
    """All 2,000 events arrive once, as their export record, even when entries fail once."""
    stream = f"{peer}-{mode}"
    asyncio.run(_create_stream(moto_url, stream))

    summary = _run_peer(PEERS[peer], proxies[mode].url, stream, events)

    assert summary["received"] == summary["sent_ok"] == EVENTS
    assert summary["failed"] == 0
    assert summary["elapsed_s"] > 0
    assert (proxies[mode].injected[stream] > 0) is (mode == "faulty")
    expected = [export(line) for line in events.splitlines() if line.strip()]
    found = asyncio.run(_read_stream(moto_url, stream))
    if peer == "async_kinesis_on":
        assert all(record.data.endswith(b"\n") for record in found)
        sent = [line for record in found for line in record.data.split(b"\n") if line]
        assert len(found) < EVENTS
        assert Counter(sent) == Counter(record.data for record in expected)
    else:
        assert Counter(found) == Counter(expected)
