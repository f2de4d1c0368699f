"""Integration fixtures: moto's server in-process on a free loopback port, streams on demand."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterator

import pytest
from local_kinesis import create_stream, moto_server, patch_moto_shard_put

_names = itertools.count()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on a free loopback port, its shard append made safe for concurrent writers."""
    patch_moto_shard_put()
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
