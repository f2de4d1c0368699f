"""`streamer replay` as a process against moto's server: delivery and input entries of a
dead-letter file sent again and read back with GetRecords, what fails again in a new file, the
same-file refusal."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
from local_kinesis import REGION, read_all

from streamer.deadletter import DeadLetterFile
from streamer.record import Entry
from tests.support.processes import run_streamer

pytestmark = pytest.mark.integration

SEGMENT = "seg-a"
NOT_UTF8 = b'{"person": {"name": "caf\xe9"}, "identityMap": {"ecid": [{"id": "x"}]}}'


def event(i: int) -> bytes:
    return orjson.dumps(
        {
            "_id": f"e{i}",
            "segmentMembership": {
                "ups": {
                    SEGMENT: {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": "realized"}
                }
            },
            "identityMap": {"ecid": [{"id": f"key-{i}"}]},
        }
    )


def replay(moto_url: str, stream: str, *args: str) -> tuple[int, str, dict[str, Any]]:
    proc = run_streamer(
        [
            "replay",
            *("--stream", stream, "--region", REGION, "--endpoint-url", moto_url),
            *("--shard-rate-factor", "0"),
            *args,
        ],
        b"",
    )
    stderr = proc.stderr.decode()
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "{}"
    summary = orjson.loads(last) if last.startswith("{") else {}
    return proc.returncode, stderr, summary


def test_replay_delivery_then_input_entries(moto_url: str, new_stream: Any, tmp_path: Path) -> None:
    """Delivery records arrive as they were; input lines are exported again; a line that still
    fails (not UTF-8) and an overlong one go to the new file with their exact bytes or marked."""
    stream = new_stream(2)
    source = tmp_path / "dead.ndjson"
    dead = DeadLetterFile(source)
    records = {f"k{i}": orjson.dumps({"n": i, "name": "Zoë"}) for i in range(3)}
    for i, (key, data) in enumerate(records.items()):
        entry = Entry(data, key, "stdin", i + 1, 0.0)
        entry.attempts = 20
        dead.undelivered(entry, "attempts exhausted")
    dead.bad_line(source="tcp:127.0.0.1:5555#1", line_no=7, line=event(9), reason="was rejected")
    dead.bad_line(source="stdin", line_no=8, line=NOT_UTF8, reason="not valid UTF-8")
    dead.overlong_line(source="stdin", line_no=9, preview=b"{" * 100, size=10**7, limit=10**6)
    dead.close()
    before = source.read_bytes()

    rc, stderr, summary = replay(
        moto_url, stream, str(source), "--dead-letter", str(tmp_path / "a")
    )
    assert rc == 0, stderr
    assert summary["event"] == "summary"
    assert summary["delivered"] == 3
    assert summary["profiles"] == 3
    assert summary["skipped_other_kind"] == 3
    assert not (tmp_path / "a").exists()
    back = asyncio.run(read_all(moto_url, stream))
    assert {(r["partition_key"], r["data"]) for r in back} == set(records.items())

    again = tmp_path / "b"
    rc, stderr, summary = replay(
        moto_url, stream, str(source), "--kind", "input", "--dead-letter", str(again)
    )
    assert rc == 1, stderr
    assert summary["delivered"] == 1
    assert summary["not_replayable"] == 1
    back = asyncio.run(read_all(moto_url, stream))
    assert len(back) == 4
    assert (
        orjson.loads(next(r["data"] for r in back if r["partition_key"] == "key-9"))["_id"] == "e9"
    )
    entries = [orjson.loads(line) for line in again.read_bytes().splitlines()]
    assert [e["line_no"] for e in entries] == [8, 9]
    assert base64.b64decode(entries[0]["line_b64"]) == NOT_UTF8
    assert entries[1]["line_truncated"] is True
    assert "cannot be replayed" in entries[1]["not_replayable"]
    assert source.read_bytes() == before


@pytest.mark.parametrize("form", ["same", "symlink", "dot"])
def test_replay_refuses_to_write_the_file_it_reads(
    moto_url: str, tmp_path: Path, form: str
) -> None:
    """The new file named as the file read, by any path, exits 2 with one sentence."""
    source = tmp_path / "dead.ndjson"
    source.write_bytes(b'{"kind": "delivery"}\n')
    (tmp_path / "sub").mkdir()
    target = {
        "same": str(source),
        "symlink": str(tmp_path / "link"),
        "dot": f"{tmp_path}/sub/../dead.ndjson",
    }[form]
    if form == "symlink":
        (tmp_path / "link").symlink_to(source)
    rc, stderr, _ = replay(moto_url, "unused", str(source), "--dead-letter", target)
    assert rc == 2
    assert stderr.startswith("streamer: --dead-letter ")
    assert "is the file being replayed" in stderr
    assert source.read_bytes() == b'{"kind": "delivery"}\n'


def test_replay_exits_1_when_a_record_fails_again(
    moto_url: str, new_stream: Any, tmp_path: Path
) -> None:
    """A record over the record limit is written to the new file and the exit code is 1."""
    stream = new_stream(1)
    source = tmp_path / "dead.ndjson"
    dead = DeadLetterFile(source)
    dead.undelivered(Entry(orjson.dumps({"pad": "x" * 3000}), "big", "stdin", 1, 0.0), "r")
    dead.undelivered(Entry(b'{"small":1}', "small", "stdin", 2, 0.0), "r")
    dead.close()
    again = tmp_path / "again.ndjson"
    rc, stderr, summary = replay(
        moto_url, stream, str(source), "--dead-letter", str(again), "--max-record-bytes", "1024"
    )
    assert rc == 1, stderr
    assert summary["delivered"] == 1
    (entry,) = [orjson.loads(line) for line in again.read_bytes().splitlines()]
    assert entry["partition_key"] == "big"
    assert "over the record limit" in entry["reason"]
    assert [r["partition_key"] for r in asyncio.run(read_all(moto_url, stream))] == ["small"]
