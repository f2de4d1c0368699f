"""Integration fixtures: moto's server in-process on a free loopback port, streams on demand."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from local_kinesis import DUMMY_CREDENTIALS, REGION, create_stream, moto_server  # noqa: E402

_names = itertools.count()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def new_stream(moto_url: str) -> Callable[[int], str]:
    """Create a fresh stream with N shards on the moto server; return its name."""

    def make(shards: int) -> str:
        name = f"it-{os.getpid()}-{next(_names)}"
        asyncio.run(create_stream(moto_url, name, shards))
        return name

    return make


def streamer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "streamer", *args]


def aws_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=DUMMY_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIALS["aws_secret_access_key"],
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def run_streamer(
    args: list[str], stdin: bytes, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        streamer_cmd(*args),
        input=stdin,
        env=env if env is not None else aws_env(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


__all__ = ["REGION", "aws_env", "run_streamer", "streamer_cmd"]
