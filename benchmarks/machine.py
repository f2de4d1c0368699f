"""What a benchmark run ran on: the machine, the software and the commit.

What it does: `machine()` returns the CPUs (affinity and count), CPU model, memory, Python and
platform, the load average at the time of the call, the versions of the packages the producers
use, and the git commit with whether `streamer/` has uncommitted changes.

What it leaves out: anything measured during the runs (`runner.py`, `harness.py`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.producers import ROOT


def machine() -> dict[str, Any]:
    """The machine and software the run used, with the load average at the time of the call."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    memory_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    versions = {}
    for package in ("aiobotocore", "botocore", "aiohttp", "orjson", "uvloop", "async-kinesis"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": versions,
        "git": _git(),
    }


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "streamer_dirty": bool(git("status", "--porcelain", "--", "streamer")),
    }
