"""The spool's async shell: appending with backpressure, group commit, trouble and retry.

What it does: `append` writes one chunk's export records to the store as frames (raw line,
source, line number) and gives each entry its offset; it waits while the spool is full and,
when a write fails (a full disk, an I/O error), stops there: it logs once, marks the spool in
trouble (`problem`, for `/readyz`), and retries every `retry_s` until the write succeeds, so
intake is held and nothing more is read. `when_durable(callback)` calls back, in order, once
everything appended before it is synced as the policy asks (at once for `never`): one sync task
fsyncs in a worker thread when `SyncPolicy` says it is due, covering every line appended so
far (group commit). `settled` is the pipeline subscriber that removes settled lines.
`close` syncs what is left and releases the directory.

What it leaves out: files and bookkeeping (`store.py`, `segments.py`), replaying at start-up
(`restore.py`).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from operator import attrgetter
from typing import TYPE_CHECKING, Final

import structlog

from streamer.limits import SPOOL_SEGMENT_BYTES as SEGMENT_BYTES
from streamer.record import Entry, Outcome, Settled
from streamer.spool.framing import MAX_GROUP_LINES, Frame, encode_group, encode_source
from streamer.spool.segments import SyncPolicy, offset_of, segment_bytes_for
from streamer.spool.store import SpoolStore, SyncJob

if TYPE_CHECKING:
    from streamer.config import Settings

log = structlog.get_logger("streamer.spool")

_source_of = attrgetter("source")
_line_no_of = attrgetter("line_no")

INLINE_WRITE_BYTES: Final = 128 * 1024
"""A chunk's frames up to this size are written on the loop's thread (a write to the page
cache takes tens of microseconds, less than handing it to the writer thread); larger ones, and
every fsync, go to worker threads."""
RETRY_S: Final = 1.0
"""How often a failed spool write or sync is tried again."""


class Spool:
    """A `SpoolStore` with its sync task; start with `start()`, end with `close()`."""

    def __init__(
        self,
        store: SpoolStore,
        policy: SyncPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_s: float = RETRY_S,
    ) -> None:
        self.store = store
        self._policy = policy
        self._clock = clock
        self._retry_s = retry_s
        self._waiting: list[Callable[[], None]] = []
        """Acknowledgements waiting for the next sync, in order."""
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._syncing = False
        self._trouble: str | None = None
        self._writing = asyncio.Lock()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="spool-write")
        self._syncer = ThreadPoolExecutor(1, thread_name_prefix="spool-sync")
        self.fresh_from = offset_of(store.ledger.active, 0)
        """Offsets below this belong to lines an earlier run left (replayed)."""

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None and not self._policy.acknowledges_at_once:
            self._task = asyncio.create_task(self._sync_loop(), name="spool-sync")

    async def close(self) -> None:
        """Sync what is left, call the acknowledgements it covers, release the directory."""
        task = self._task
        self._task = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # a write cancelled mid-way still runs in its thread: let it end before closing files
        self._writer.shutdown(wait=True)
        if not self._policy.acknowledges_at_once:
            # a failed last sync leaves its acknowledgements uncalled: nothing is acknowledged
            # that is not durable
            await self.sync()
        self._syncer.shutdown(wait=True)
        self.store.close()

    # -- what the daemon observes ----------------------------------------------------------
    @property
    def problem(self) -> str | None:
        """Why intake is held by the spool (an I/O error, or full), or None."""
        if self._trouble is not None:
            return self._trouble
        if not self.store.ledger.has_room():
            return (
                f"spool full: {self.store.ledger.total_bytes} bytes held, input is waiting for "
                "lines to be delivered"
            )
        return None

    @property
    def held_bytes(self) -> int:
        return self.store.ledger.total_bytes

    # -- intake ----------------------------------------------------------------------------
    async def append(self, entries: Sequence[Entry], lines: Sequence[bytes]) -> None:
        """Spool one chunk's records (`lines[i]` is the raw line of `entries[i]`)."""
        if not entries:
            return
        frames = _frames(entries, lines)
        ledger = self.store.ledger
        while True:
            while not ledger.has_room():
                self._room.clear()
                await self._room.wait()
            async with self._writing:  # one write at a time
                write = self.store.prepare(frames)
                try:
                    if len(write.data) <= INLINE_WRITE_BYTES:
                        write.run()  # a page-cache write: cheaper than a thread hand-off
                    else:
                        await asyncio.get_running_loop().run_in_executor(self._writer, write.run)
                except OSError as exc:
                    self._in_trouble("write", exc)
                else:
                    self.store.commit(write)
                    break
            await asyncio.sleep(self._retry_s)
        self._out_of_trouble()
        for entry, offset in zip(entries, write.offsets, strict=True):
            entry.offset = offset
        self._policy.appended(self._clock())
        self._wake.set()

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call `callback` once everything appended so far is as durable as the policy asks."""
        policy = self._policy
        if policy.acknowledges_at_once or (
            not self._waiting and not self._syncing and policy.due_at() is None
        ):
            callback()
            return
        self._waiting.append(callback)
        policy.appended(self._clock())
        self._wake.set()

    def settled(self, event: Settled) -> None:
        """Pipeline subscriber: settled lines leave the spool (spooled ones stay)."""
        if event.outcome is Outcome.SPOOLED:
            return
        offsets = event.offsets
        if offsets:
            self.forget(offsets)

    def forget(self, offsets: list[int]) -> None:
        """Lines settled (delivered, dead-lettered, filtered) leave the spool."""
        self.store.settle(offsets)
        if self.store.ledger.has_room():
            self._room.set()

    def replay(self) -> Iterator[tuple[int, Frame]]:
        """What earlier runs left unsettled, in order (see `SpoolStore.replay`)."""
        return self.store.replay()

    # -- syncing ---------------------------------------------------------------------------
    async def _sync_loop(self) -> None:
        while True:
            due = self._policy.due_at()
            if due is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = due - self._clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if not await self.sync():
                await asyncio.sleep(self._retry_s)

    async def sync(self) -> bool:
        """Sync everything appended so far and call the acknowledgements it covers."""
        waiting, self._waiting = self._waiting, []
        job: SyncJob = self.store.begin_sync()
        self._policy.syncing()
        self._syncing = True
        try:
            await asyncio.get_running_loop().run_in_executor(self._syncer, job.run)
        except (OSError, asyncio.CancelledError) as exc:
            self.store.end_sync(job, ok=False)
            self._policy.failed(self._clock())
            self._waiting[:0] = waiting
            if isinstance(exc, asyncio.CancelledError):
                raise
            self._in_trouble("sync", exc)
            return False
        finally:
            self._syncing = False
        self.store.end_sync(job, ok=True)
        self._out_of_trouble()
        for callback in waiting:
            callback()
        return True

    def _in_trouble(self, what: str, exc: OSError) -> None:
        if self._trouble is None:
            self._trouble = f"spool {what} failed: {exc.strerror or exc}; intake is held"
            log.error(
                "spool write failed; intake is held and retried",
                action=what,
                error=str(exc),
                retry_s=self._retry_s,
            )

    def _out_of_trouble(self) -> None:
        if self._trouble is not None:
            self._trouble = None
            log.info("spool writable again; intake resumes")


def _frames(
    entries: Sequence[Entry], lines: Sequence[bytes], max_lines: int = MAX_GROUP_LINES
) -> list[tuple[bytes, int]]:
    """One frame per run of lines of one source (one, from a chunk) of at most `max_lines`,
    with its line count."""
    total = len(entries)
    sources = list(map(_source_of, entries))
    source = sources[0]
    if total <= max_lines and sources.count(source) == total:  # a chunk: one frame
        seqs = array("Q", map(_line_no_of, entries))
        return [(encode_group(encode_source(source), seqs, lines), total)]
    out: list[tuple[bytes, int]] = []
    start = 0
    while start < total:
        source = sources[start]
        stop = start + 1
        limit = min(start + max_lines, total)
        while stop < limit and sources[stop] == source:
            stop += 1
        seqs = array("Q", map(_line_no_of, entries[start:stop]))
        out.append((encode_group(encode_source(source), seqs, lines[start:stop]), stop - start))
        start = stop
    return out


def open_spool(settings: Settings, clock: Callable[[], float] = time.monotonic) -> Spool | None:
    """Lock and open the settings' spool directory (None without one); raises `SpoolLocked`
    if another daemon has it."""
    directory = settings.spool_dir
    if directory is None:
        return None
    max_bytes = settings.spool_max_bytes
    segment_bytes = segment_bytes_for(max_bytes, SEGMENT_BYTES)
    syncs = settings.spool_sync != "never"
    store = SpoolStore(directory, max_bytes=max_bytes, segment_bytes=segment_bytes, syncs=syncs)
    store.open()
    policy = SyncPolicy(settings.spool_sync, settings.spool_sync_interval_ms / 1000)
    return Spool(store, policy, clock=clock)


async def close_spool(spool: Spool | None) -> None:
    """At exit: sync what is left and release the directory (nothing without a spool)."""
    if spool is not None:
        await spool.close()
