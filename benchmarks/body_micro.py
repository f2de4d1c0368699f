"""Micro-benchmark of the PutRecords body: microseconds of CPU per record, each builder.

What it does: builds the body of one 500-record call of ~600-byte records (the main table's
size) with the pure-Python reference (`wire.records_body`), the compiled builder with its vector
base64 (`_native`, AVX2 where the CPU has it) and the same builder on its portable table
(`STREAMER_NO_SIMD`, in a child process: the path is chosen at import), checks that all three give
the same bytes, and times the SHA-256 of the body that signing adds, for scale. Time is CPU time
of the timing process (`time.process_time`), best of several repeats.

What it leaves out: the rest of the send (signing's other steps, the HTTP post, the answer); see
BENCHMARKS.md for whole-process numbers.

Run: `.venv/bin/python -m benchmarks.body_micro` (`--number N --repeat R` to change the loops).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from streamer import wire
from streamer.record import Entry

RECORDS = 500
PREFIX = b'{"StreamName":"bench","Records":['


def entries() -> list[Entry]:
    """500 records of 600 bytes of JSON-like text, each with its own 36-character key."""
    out = []
    for i in range(RECORDS):
        data = (b'{"_id":"e%09d","attributes":"' % i + b"x" * 600)[:598] + b'"}'
        out.append(Entry(data, f"{i:08d}-0000-4000-8000-000000000000", "bench", i, 0.0))
    return out


def per_record_us(build: Callable[[], Any], number: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(number):
            build()
        best = min(best, time.process_time() - start)
    return best / number / RECORDS * 1e6


def _compiled(number: int, repeat: int) -> tuple[str, float, bytes]:
    _native = importlib.import_module("streamer._native")  # absent where nothing compiled
    batch = entries()
    body = _native.records_body(PREFIX, batch)
    return (
        _native.SIMD,
        per_record_us(lambda: _native.records_body(PREFIX, batch), number, repeat),
        body,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200, help="bodies per repeat")
    parser.add_argument("--repeat", type=int, default=7, help="repeats; the best counts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # the compiled builder as this process's environment chose it
        simd, us, body = _compiled(args.number, args.repeat)
        sys.stdout.buffer.write(
            b"%s %.4f %s" % (simd.encode() or b"-", us, hashlib.sha256(body).hexdigest().encode())
        )
        return 0
    batch = entries()
    reference = wire.records_body(PREFIX, batch)
    rows = [
        (
            "pure Python (binascii, orjson)",
            per_record_us(lambda: wire.records_body(PREFIX, batch), args.number, args.repeat),
        )
    ]
    digest = hashlib.sha256(reference).hexdigest()
    for label, env in (
        ("compiled, vector base64", {}),
        ("compiled, portable table", {"STREAMER_NO_SIMD": "1"}),
    ):
        child = [
            sys.executable,
            "-m",
            "benchmarks.body_micro",
            "--child",
            "--number",
            str(args.number),
            "--repeat",
            str(args.repeat),
        ]
        done = subprocess.run(child, env={**os.environ, **env}, capture_output=True, check=True)
        simd, cpu_us, got = done.stdout.decode().split()
        if got != digest:
            raise SystemExit(f"{label}: the body differs from the pure builder's")
        rows.append((f"{label} ({'no vector unit' if simd == '-' else simd})", float(cpu_us)))
    rows.append(
        (
            "SHA-256 of the body (signing), for scale",
            per_record_us(lambda: hashlib.sha256(reference).digest(), args.number, args.repeat),
        )
    )
    print(f"{RECORDS} records of ~600 B per body, {len(reference):,} bytes; us of CPU per record:")
    for label, us in rows:
        print(f"  {label:<48} {us:6.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
