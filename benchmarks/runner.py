"""Runs one producer once against the benchmark endpoint and measures it.

What it does: every subprocess (endpoint, workload generator, producers) runs from the snapshot
of the code that `producers.snapshot` made (the `cwd` given). `Endpoint` is a
`benchmarks.endpoint` subprocess (stats, reset, its CPU time from /proc). `Workloads` writes each
events file once. `run_once` resets the endpoint, starts the producer with its stdin a pipe fed
from the events file by `cat`, waits for it with `os.wait4` and returns a `Run`: wall time from
just before the start to the exit, the child's CPU seconds and peak RSS from its rusage, RSS
sampled from /proc, the endpoint's CPU over the run, and the endpoint's id counts (exactly-once:
one accepted record per event `_id`, no duplicates, none missing).

Peak RSS: exec keeps the larger of the old and the new high-water mark, so a child's
`ru_maxrss` is at least its parent's VmHWM at the time of the fork. The harness therefore stays
small (events files come from a subprocess, matplotlib is imported after the runs), and a run
whose `ru_maxrss` is no more than the harness's VmHWM is flagged and reports the sampled VmHWM
instead. (The harness's own `ru_maxrss` is no guide: it carries its parent's, e.g. pytest's.)

What it leaves out: the producers' command lines and the snapshot (`producers.py`), choosing
what to run and summarising runs (`harness.py`); Windows and macOS
(/proc, `os.wait4` and `ru_maxrss` in kilobytes are Linux's).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from benchmarks.producers import REGION, ROOT, STREAM, Producer

RUN_TIMEOUT_S: Final = 900.0
RSS_SAMPLE_S: Final = 0.25
MAX_RSS_SAMPLES: Final = 240


class Endpoint:
    """A `benchmarks.endpoint` subprocess: started on entry, SIGTERMed and reaped on exit."""

    def __init__(
        self, shards: int, fail_rate: float = 0.0, shard_limits: bool = False, *, cwd: Path = ROOT
    ) -> None:
        self.shards = shards
        self.fail_rate = fail_rate
        options = ["--port", "0", "--shards", str(shards), "--fail-rate", str(fail_rate)]
        argv = [sys.executable, "-m", "benchmarks.endpoint", "--stream", STREAM, *options]
        if shard_limits:
            argv.append("--shard-limits")
        self._process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self._process.wait()
            raise RuntimeError(f"the endpoint exited ({self._process.returncode}) before listening")
        ready = orjson.loads(line)
        self.url: str = ready["url"]
        self.pid: int = self._process.pid

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.communicate(timeout=30)
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            self.url + path, method=method, data=b"" if method == "POST" else None
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return orjson.loads(response.read())

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call("GET", "/_stats")
        return stats

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def cpu_s(self) -> float | None:
        """User + system CPU seconds the endpoint has used so far (from /proc), or None."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class EventsFile:
    """A written workload: one event a line."""

    path: Path
    events: int
    size: str
    bytes: int

    @property
    def mean_record_bytes(self) -> float:
        return (self.bytes - self.events) / self.events if self.events else 0.0


class Workloads:
    """Writes each (events, size) workload once into `directory`; files are reused.

    Each file is written by a `benchmarks.workload` subprocess: generating 100 KB events takes
    hundreds of MB, which must not raise the harness's own high-water mark (see `Run`).
    """

    def __init__(self, directory: Path, *, cwd: Path = ROOT) -> None:
        self._directory = directory
        self._cwd = cwd
        self._files: dict[tuple[int, str], EventsFile] = {}

    def get(self, events: int, size: str) -> EventsFile:
        cached = self._files.get((events, size))
        if cached is not None:
            return cached
        path = self._directory / f"events-{size}-{events}.ndjson"
        with path.open("wb") as out:
            argv = [sys.executable, "-m", "benchmarks.workload", "-n", str(events), "--size", size]
            subprocess.run(argv, cwd=self._cwd, stdout=out, check=True)
        made = EventsFile(path, events, size, path.stat().st_size)
        self._files[(events, size)] = made
        return made


# -- one run -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """What one producer run measured."""

    exit_code: int
    wall_s: float
    cpu_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float
    """The larger of ru_maxrss and the sampled VmHWM; only the latter when `rss_from_harness`."""
    ru_maxrss_mb: float
    """The child's ru_maxrss: the larger of its own peak and the harness's at spawn, since a
    child starts as a copy of the harness and exec keeps the high-water mark."""
    sampled_high_water_mb: float
    """VmHWM last read from /proc (every RSS_SAMPLE_S): a lower bound of the true peak."""
    rss_from_harness: bool
    """True when ru_maxrss is no more than the harness's own: then it measured the harness."""
    records_per_s: float
    cpu_s_per_100k: float
    endpoint_cpu_s: float | None
    accepted_records: int
    unique_ids: int
    duplicates: int
    missing: int
    no_id: int
    failed_entries: int
    exactly_once: bool | None
    summary: dict[str, Any] | None
    stderr_tail: str = ""
    rss_samples: list[tuple[float, float]] = field(default_factory=list)
    accepted_bytes: int = 0
    """Bytes of data and partition keys the endpoint accepted (what was sent, once)."""


def last_json(text: str) -> dict[str, Any] | None:
    """The last line of `text` that is a JSON object (a program's summary line), or None."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(line)
                if isinstance(value, dict):
                    return value
    return None


def _memory_mb(pid: int) -> tuple[float, float] | None:
    """(VmRSS, VmHWM) of `pid` in MB from /proc, or None once it has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line[:5]] = int(line.split()[1]) / 1024
    if len(values) < 2:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values["VmHWM"]


def _watch_memory(pid: int, stop: threading.Event, started: float, seen: _Memory) -> None:
    """Sample RSS at once and then every RSS_SAMPLE_S until `stop` (so a run shorter than one
    interval has a sample too); keeps the last high-water mark seen."""
    while True:
        memory = _memory_mb(pid)
        if memory is None:
            return
        seen.samples.append((round(time.perf_counter() - started, 2), memory[0]))
        seen.high_water_mb = max(seen.high_water_mb, memory[1])
        if stop.wait(RSS_SAMPLE_S):
            return


@dataclass(slots=True)
class _Memory:
    samples: list[tuple[float, float]] = field(default_factory=list)
    high_water_mb: float = 0.0


def _thin(samples: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(samples) <= MAX_RSS_SAMPLES:
        return [(t, round(mb, 1)) for t, mb in samples]
    step = len(samples) / MAX_RSS_SAMPLES
    return [
        (samples[int(i * step)][0], round(samples[int(i * step)][1], 1))
        for i in range(MAX_RSS_SAMPLES)
    ]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    return env


def run_once(
    producer: Producer,
    events: EventsFile,
    endpoint: Endpoint,
    workdir: Path,
    *,
    shard_limits: bool = False,
    sample_rss: bool = False,
    timeout_s: float = RUN_TIMEOUT_S,
    cwd: Path = ROOT,
) -> Run:
    """Reset the endpoint, pipe the events file into the producer, measure, check the ids."""
    endpoint.reset()
    dead_letter = workdir / f"dead-letter-{producer.name}.ndjson"
    dead_letter.unlink(missing_ok=True)
    argv = producer.argv(endpoint.url, dead_letter, shard_limits)
    memory = _Memory()
    harness_mb = (_memory_mb(os.getpid()) or (0.0, 0.0))[1]  # this process's VmHWM
    endpoint_before = endpoint.cpu_s()
    with (
        tempfile.TemporaryFile(dir=workdir) as out,
        tempfile.TemporaryFile(dir=workdir) as err,
    ):
        started = time.perf_counter()
        feeder = subprocess.Popen(["cat", str(events.path)], stdout=subprocess.PIPE)
        process = subprocess.Popen(
            argv, stdin=feeder.stdout, stdout=out, stderr=err, cwd=cwd, env=_environment()
        )
        assert feeder.stdout is not None
        feeder.stdout.close()  # the producer holds the only read end: it sees EOF when cat ends
        stop = threading.Event()
        sampler = threading.Thread(
            target=_watch_memory, args=(process.pid, stop, started, memory), daemon=True
        )
        sampler.start()
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stop.set()
        sampler.join()
        feeder.kill()
        feeder.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    endpoint_after = endpoint.cpu_s()
    stats = endpoint.stats()
    is_streamer = producer.name.startswith("streamer")
    summary = last_json(stderr if is_streamer else stdout)
    cpu = usage.ru_utime + usage.ru_stime
    maxrss = usage.ru_maxrss / 1024  # kilobytes on Linux
    inherited = maxrss <= harness_mb + 1
    unique, duplicates, no_id = stats["unique_ids"], stats["duplicates"], stats["no_id"]
    exactly_once = None
    if producer.per_event_records:
        exactly_once = (
            process.returncode == 0 and unique == events.events and duplicates == 0 and no_id == 0
        )
    return Run(
        exit_code=process.returncode,
        wall_s=round(wall, 4),
        cpu_s=round(cpu, 4),
        user_s=round(usage.ru_utime, 4),
        sys_s=round(usage.ru_stime, 4),
        peak_rss_mb=round(
            memory.high_water_mb if inherited else max(maxrss, memory.high_water_mb), 1
        ),
        ru_maxrss_mb=round(maxrss, 1),
        sampled_high_water_mb=round(memory.high_water_mb, 1),
        rss_from_harness=inherited,
        records_per_s=round(events.events / wall, 1),
        cpu_s_per_100k=round(cpu / events.events * 100_000, 4) if events.events else 0.0,
        endpoint_cpu_s=(
            None
            if endpoint_before is None or endpoint_after is None
            else round(endpoint_after - endpoint_before, 4)
        ),
        accepted_records=stats["records_accepted"],
        accepted_bytes=stats["bytes_accepted"],
        unique_ids=unique,
        duplicates=duplicates,
        missing=max(0, events.events - unique) if producer.per_event_records else 0,
        no_id=no_id,
        failed_entries=stats["records_failed"],
        exactly_once=exactly_once,
        summary=summary,
        stderr_tail="" if process.returncode == 0 else stderr[-2000:],
        rss_samples=_thin(memory.samples) if sample_rss else [],
    )
