"""Replay at the client seam: dead-letter entries written by a run are sent again through the
real pipeline, what fails again goes to a new file, and the file read is never written."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import orjson
import pytest

from streamer import cli, replay
from streamer.deadletter import DeadLetterFile
from streamer.errors import ConfigError, RequestFailure
from streamer.record import Entry
from tests.support.events import dead_letters, profile
from tests.support.fakes import FakeKinesis, break_drain
from tests.support.inprocess import run_daemon, settings

NOT_UTF8 = b'{"person": {"name": "caf\xe9"}, "identityMap": {"ecid": [{"id": "x"}]}}'


async def test_a_runs_dead_letters_replayed_by_kind(tmp_path: Path) -> None:
    """A run's failed records (delivery) and rejected lines (input) are sent again as they were."""
    big = profile(7, pad=2000)
    lines = [profile(1), big, NOT_UTF8, profile(2)]
    gone = RequestFailure("ResourceNotFoundException", "Stream s not found", retriable=False)
    down = FakeKinesis(shard_count=2, script=[lambda e: gone] * 10)
    await run_daemon(down, settings(tmp_path, max_record_bytes=1024), lines)
    first = tmp_path / "dead.ndjson"
    entries = dead_letters(first)
    assert sorted(e["kind"] for e in entries) == ["delivery", "delivery", "input", "input"]
    before = first.read_bytes()

    up = FakeKinesis(shard_count=2)
    delivered = settings(tmp_path, dead_letter=str(tmp_path / "again.ndjson"))
    stats, report, written = await replay.replay(delivered, up, first, "delivery")
    assert written == 0
    assert stats.delivered == 2
    assert report.skipped == 2
    assert report.profiles == 2
    records = {e["partition_key"]: orjson.dumps(e["record"]) for e in entries if "record" in e}
    assert {(key, data) for _, key, data in up.accepted} == set(records.items())
    assert not (tmp_path / "again.ndjson").exists()

    fixed = settings(tmp_path, dead_letter=str(tmp_path / "input.ndjson"))
    stats, report, written = await replay.replay(fixed, up, first, "input")
    assert stats.delivered == 1  # the big profile fits the default record limit
    assert "ecid-7" in {key for _, key, _ in up.accepted}
    again = dead_letters(tmp_path / "input.ndjson")
    assert written == 1
    assert len(again) == 1
    assert base64.b64decode(again[0]["line_b64"]) == NOT_UTF8
    assert again[0]["line_no"] == 3
    assert first.read_bytes() == before  # the file read is never written


def test_entries_keep_whole_lines_and_invalid_utf8_bytes(tmp_path: Path) -> None:
    """A bad line is kept whole as text, with its exact bytes in line_b64 when not UTF-8."""
    dead = DeadLetterFile(tmp_path / "d.ndjson")
    long_line = b'{"x": "' + b"y" * 20_000 + b'"'
    dead.bad_line(source="stdin", line_no=1, line=long_line, reason="r")
    dead.bad_line(source="stdin", line_no=2, line=NOT_UTF8, reason="r")
    dead.close()
    first, second = dead_letters(tmp_path / "d.ndjson")
    assert first["line"].encode() == long_line
    assert "line_b64" not in first
    assert "line_truncated" not in first
    assert base64.b64decode(second["line_b64"]) == NOT_UTF8
    assert "\ufffd" in second["line"]


def test_classify_each_kind_of_line() -> None:
    """Entries of the kind asked are replayable; others are skipped, refused or unreadable."""
    delivery = orjson.dumps(
        {
            "kind": "delivery",
            "source": "stdin",
            "line_no": 4,
            "partition_key": "k",
            "record": {"a": 1},
        }
    )
    item = replay.classify(delivery, 1, "delivery")
    assert item == replay.Record(b'{"a":1}', "k", "stdin", 4)
    assert replay.classify(delivery, 1, "input") == replay.OtherKind()
    truncated = orjson.dumps(
        {"kind": "input", "source": "stdin", "line_no": 2, "line": "{", "line_truncated": True}
    )
    refused = replay.classify(truncated, 2, "input")
    assert isinstance(refused, replay.NotReplayable)
    assert "cannot be replayed" in refused.why
    assert isinstance(replay.classify(b"{oops", 3, "input"), replay.Unreadable)
    assert isinstance(replay.classify(b'{"kind": "other"}', 4, "input"), replay.Unreadable)
    assert replay.classify(b"  ", 5, "input") is None
    no_key = orjson.dumps({"kind": "delivery", "source": "s", "line_no": 1, "record": {}})
    assert isinstance(replay.classify(no_key, 6, "delivery"), replay.NotReplayable)


@pytest.mark.parametrize("form", ["same", "dot", "symlink", "hardlink"])
def test_the_new_file_must_differ_from_the_file_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """The same file by any path is refused with exit 2."""
    monkeypatch.chdir(tmp_path)
    source = Path("dead.ndjson")
    source.write_bytes(b"")
    target = {
        "same": Path("dead.ndjson"),
        "dot": Path("./sub/../dead.ndjson"),
        "symlink": Path("link.ndjson"),
        "hardlink": Path("hard.ndjson"),
    }[form]
    (tmp_path / "sub").mkdir()
    if form == "symlink":
        target.symlink_to(source)
    if form == "hardlink":
        os.link(source, target)
    with pytest.raises(ConfigError, match="is the file being replayed") as exc:
        replay.check_paths(source, target)
    assert exc.value.exit_code == 2
    replay.check_paths(source, Path("other.ndjson"))  # a new file is fine


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """Replaying a file that does not exist is a config error naming it."""
    with pytest.raises(ConfigError, match="does not exist"):
        replay.check_paths(tmp_path / "nope.ndjson", tmp_path / "new.ndjson")


async def test_a_record_over_the_limit_goes_to_the_new_file(tmp_path: Path) -> None:
    """A delivery entry larger than the record limit is not offered but dead-lettered again."""
    source = tmp_path / "dead.ndjson"
    dead = DeadLetterFile(source)
    dead.undelivered(Entry(b'{"x":"' + b"y" * 3000 + b'"}', "k1", "stdin", 1, 0.0), "r")
    dead.undelivered(Entry(b'{"x":1}', "k2", "stdin", 2, 0.0), "r")
    dead.close()
    client = FakeKinesis(shard_count=1)
    cfg = settings(tmp_path, dead_letter=str(tmp_path / "new.ndjson"), max_record_bytes=1024)
    stats, _, written = await replay.replay(cfg, client, source, "delivery")
    assert written == 1
    assert stats.delivered == 1
    assert stats.delivered + stats.dead_lettered_delivery == stats.exported
    (again,) = dead_letters(tmp_path / "new.ndjson")
    assert again["partition_key"] == "k1"
    assert "over the record limit of 1024 bytes" in again["reason"]


def test_replay_needs_a_new_dead_letter_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --dead-letter (a config file's would be the file read) replay exits 2."""
    source = tmp_path / "dead.ndjson"
    source.write_bytes(b"")
    assert cli.main(["replay", str(source), "--stream", "s", "--region", "eu-west-1"]) == 2
    assert capsys.readouterr().err == (
        "streamer: replay needs --dead-letter NEW_FILE, where what fails again is written\n"
    )


def test_replay_takes_destination_producer_and_dead_letter_flags_only() -> None:
    """The replay command has the destination, activation and producer flags, not inputs."""
    parser = cli.build_parser()
    args = parser.parse_args(
        [
            "replay",
            "f",
            "--dead-letter",
            "n",
            "--writers",
            "4",
            "--segments",
            "a",
            "--kind",
            "input",
        ]
    )
    assert (args.writers, args.segments, args.kind) == (4, ["a"], "input")
    for flag in ("--input", "--metrics-address", "--progress"):
        with pytest.raises(SystemExit):
            parser.parse_args(["replay", "f", flag, "x"])


async def test_a_sender_failure_stops_the_replay_without_losing_what_it_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dead sender stops reading; what was offered is delivered or in the new file."""
    source = tmp_path / "dead.ndjson"
    dead = DeadLetterFile(source)
    for i in range(2000):
        dead.undelivered(Entry(b'{"i":%d}' % i, f"k{i}", "stdin", i + 1, 0.0), "r")
    dead.close()
    break_drain(monkeypatch, after_calls=1)
    client = FakeKinesis(shard_count=2)
    cfg = settings(tmp_path, dead_letter=str(tmp_path / "new.ndjson"), buffer_records=300)
    stats, report, written = await replay.replay(cfg, client, source, "delivery")
    assert report.failed
    assert 0 < stats.exported < 2000
    assert stats.delivered + written == stats.exported
