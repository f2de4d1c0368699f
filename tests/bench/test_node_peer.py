"""The Node.js benchmark peer (AWS SDK for JavaScript v3) delivers every event exactly once.

It runs against the project's endpoint (`benchmarks.endpoint`, a subprocess), clean and with 10%
of the entries failing (half InternalFailure, half throttling), which it must resubmit, and only
those. Skipped when node or the peer's npm packages are missing (`scripts/test.sh` installs them
when node and npm are on the machine).
"""

from __future__ import annotations

import os
import subprocess

import orjson
import pytest

from benchmarks.producers import NODE_PEER, PRODUCERS, node_peer_ready
from benchmarks.runner import Endpoint
from benchmarks.workload import generate

EVENTS = 3_000

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not node_peer_ready(), reason="node or the Node peer's packages missing"),
]


@pytest.mark.parametrize("fail_rate", [0.0, 0.1], ids=["clean", "failures"])
def test_node_peer_delivers_every_event_exactly_once(fail_rate: float) -> None:
    """All events arrive once at the endpoint; failed entries are resubmitted, none duplicated."""
    events = b"".join(generate(EVENTS)) + b"\n  \n"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    with Endpoint(shards=4, fail_rate=fail_rate) as endpoint:
        argv = PRODUCERS["node_sdk"].argv(endpoint.url, NODE_PEER / "unused", False)
        done = subprocess.run(
            argv, input=events, capture_output=True, env=env, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr.decode()
        stats = endpoint.stats()
    summary = orjson.loads(done.stdout.splitlines()[-1])
    assert (summary["received"], summary["sent_ok"], summary["failed"]) == (EVENTS, EVENTS, 0)
    assert summary["put_cpu_s"] >= 0
    assert (stats["unique_ids"], stats["duplicates"], stats["no_id"]) == (EVENTS, 0, 0)
    if fail_rate:
        assert stats["records_failed"] > 0
