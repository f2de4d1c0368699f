"""The demo: local Kinesis, a 4-shard stream, sample events through `streamer run`, read back.

Run by `scripts/demo.sh`. Prints the daemon's summary, what arrived on which shard, one export
record, and the dead-letter entries for the deliberately bad sample lines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_kinesis import (
    DUMMY_CREDENTIALS,
    REGION,
    create_stream,
    moto_server,
    patch_moto_shard_put,
    read_all,
)

STREAM = "profile-exports"
SEGMENTS = ["7841ba61-23c1-4bb3-a495-00d3g5fe1e93", "59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae"]


def sample_events(n: int) -> bytes:
    lines = []
    for i in range(n):
        event = {
            "person": {"email": f"user{i}@example.com", "name": {"lastName": f"Name{i}"}},
            "segmentMembership": {
                "ups": {
                    SEGMENTS[i % 2]: {
                        "lastQualificationTime": "2026-11-28T10:00:00Z",
                        "status": ("realized", "existing", "exited")[i % 3],
                    }
                }
            },
            "identityMap": {
                "ecid": [{"id": f"{14575006536349286404619648085736425115 + i}"}],
                "email_lc_sha256": [{"id": f"{i:064x}"}],
            },
        }
        lines.append(orjson.dumps(event))
    lines += [b"this is not json", b"[1, 2, 3]", b'{"person": {"email": "x@y.z"}}']
    return b"\n".join(lines) + b"\n"


def main() -> int:
    n = int(os.environ.get("DEMO_EVENTS", "1000"))
    patch_moto_shard_put()
    with moto_server() as url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(create_stream(url, STREAM, 4))
        dead = Path(tmp) / "dead.ndjson"
        config = Path(tmp) / "streamer.toml"
        config.write_text(
            f'name = "Demo Kinesis destination"\ndescription = "streamer demo"\n'
            f"segments = {orjson.dumps(SEGMENTS).decode()}\n"
            'attributes = ["person.email", "person.name.lastName"]\n'
        )
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        }
        cmd = [
            sys.executable,
            "-m",
            "streamer",
            "run",
            "--config",
            str(config),
            "--stream",
            STREAM,
            "--region",
            REGION,
            "--endpoint-url",
            url,
            "--dead-letter",
            str(dead),
        ]
        print("$", " ".join(cmd[2:]), f"< {n + 3} events", flush=True)
        proc = subprocess.run(
            cmd, input=sample_events(n), env=env, capture_output=True, check=False
        )
        summary = proc.stderr.decode().strip().splitlines()[-1] if proc.stderr else ""
        print("summary:", summary)
        if proc.returncode != 0:
            print(proc.stderr.decode(), file=sys.stderr)
            return proc.returncode
        records = asyncio.run(read_all(url, STREAM))
        per_shard = Counter(r["shard_id"] for r in records)
        print(f"read back {len(records)} records from {STREAM}:")
        for shard, count in sorted(per_shard.items()):
            print(f"  {shard}: {count}")
        print("first record:", records[0]["data"].decode())
        print(f"dead-letter file ({dead.name}):")
        for line in dead.read_text().splitlines():
            print("  ", orjson.loads(line)["reason"])
        return 0 if len(records) == n else 1


if __name__ == "__main__":
    sys.exit(main())
