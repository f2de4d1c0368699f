"""No silent drops, as a user sees them: an unusable dead-letter path stops the daemon before it
reads anything, the file is owner-only, SIGTERM delivers what a TCP client had sent, and big
numbers reach the stream with their digits unchanged."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from local_kinesis import REGION, read_all

from tests.support.events import client_event as event
from tests.support.processes import aws_env, run_streamer

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
