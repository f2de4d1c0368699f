"""Sample profile events, and the dead-letter file read back.

What it does: builds valid profile events (one per index, optionally with a chosen key, status
or padding) as the daemon reads them, and reads a dead-letter file into dicts.
What it leaves out: running the daemon (`inprocess`, `processes`) and faking Kinesis (`fakes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

SEGMENT = "7841ba61-23c1-4bb3-a495-00d3g5fe1e93"
CLIENT_SEGMENT = "seg-a"


def profile(i: int, *, key: str | None = None, status: str = "realized", pad: int = 0) -> bytes:
    """One valid profile event whose ecid (and so partition key) is `key` or unique per i."""
    event: dict[str, Any] = {
        "_id": f"e{i}",
        "person": {"email": f"user{i}@example.com"},
        "segmentMembership": {
            "ups": {SEGMENT: {"lastQualificationTime": "2026-11-28T10:00:00Z", "status": status}}
        },
        "identityMap": {"ecid": [{"id": key if key is not None else f"ecid-{i}"}]},
    }
    if pad:
        event["notes"] = "x" * pad
    return orjson.dumps(event)


def client_event(client: int, seq: int, keys: int = 500) -> bytes:
    """Client `client`'s `seq`-th event; its partition key is one of `keys` per client."""
    return orjson.dumps(
        {
            "_id": f"c{client}-{seq}",
            "seq": seq,
            "segmentMembership": {
                "ups": {
                    CLIENT_SEGMENT: {
                        "lastQualificationTime": "2026-11-28T10:00:00Z",
                        "status": "realized",
                    }
                }
            },
            "identityMap": {"ecid": [{"id": f"c{client}-k{seq % keys}"}]},
        }
    )


def dead_letters(path: Path) -> list[dict[str, Any]]:
    """Every dead-letter entry in the file at `path` (none if it does not exist)."""
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]
