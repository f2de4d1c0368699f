"""The body micro-benchmark compares builders that build the same bytes."""

from __future__ import annotations

import pytest

from benchmarks.body_micro import PREFIX, RECORDS, entries, main
from streamer import wire


def test_the_batch_is_a_full_call_of_distinct_records() -> None:
    """500 records of about 600 bytes, each with its own key: the main table's call."""
    batch = entries()
    assert len(batch) == RECORDS == len({e.partition_key for e in batch})
    assert {len(e.data) for e in batch} == {600}
    assert wire.records_body(PREFIX, batch).startswith(PREFIX + b'{"Data":"')


def test_every_builder_is_timed_and_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    """A short run times the pure and both compiled paths and finds the same body in each
    (it exits with the builder's name when one differs)."""
    pytest.importorskip("streamer._native", reason="nothing compiled here")
    assert main(["--number", "2", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for label in ("pure Python", "compiled, vector base64", "compiled, portable table", "SHA-256"):
        assert label in out
