"""The intake protocols: a `Source` is one stream of lines, an `Input` opens sources.

What it does: names what the daemon needs of an input. A `Source` has a name (the ticket source
of its lines), an async iterator of byte chunks, and two hooks: `on_accepted(through_seq)` once
its lines up to that number are in the buffer (or settled at intake), and `on_settled(event)`
with the fate of its lines (only for a source with `wants_settled`, so inputs that do not care
cost nothing on the hot path). An `Input` is what one or more `--input` values build: it starts
(binding what it listens on), hands each source it opens to the intake's `Feed`, and closes.
`ChunkSource` and `SingleSourceInput` are the plain implementations (stdin, tests).

What it leaves out: framing lines and what happens to them (`ingest.py`), parsing addresses
(`address.py`) and which input a scheme builds (`registry.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

import structlog

from streamer.limits import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_SHUTDOWN_IDLE_MS
from streamer.record import Settled
from streamer.sources.address import InputSpec
from streamer.sources.http_request import HttpSettings

log = structlog.get_logger("streamer.sources")


class Source(Protocol):
    """One stream of input lines."""

    wants_settled: ClassVar[bool]
    """Whether `on_settled` must be called (routing settled events has a cost)."""

    @property
    def name(self) -> str: ...

    def chunks(self) -> AsyncIterator[bytes]: ...

    def on_accepted(self, through_seq: int) -> None:
        """Lines 1..`through_seq` are accepted: buffered, or settled at intake; with a spool,
        also durable in it as its sync policy asks (so this may come after `chunks` ended, and
        never if the last sync at exit fails)."""

    def on_settled(self, event: Settled) -> None:
        """Some of this source's lines reached their end (see `record.Settled`)."""


Feed = Callable[[Source], Coroutine[Any, Any, int]]
"""The intake: reads one source to its end; returns the number of lines read."""


class ChunkSource:
    """A `Source` over an async iterator of chunks that needs no acknowledgements."""

    __slots__ = ("_chunks", "name")
    wants_settled: ClassVar[bool] = False

    def __init__(self, name: str, chunks: AsyncIterator[bytes]) -> None:
        self.name = name
        self._chunks = chunks

    def chunks(self) -> AsyncIterator[bytes]:
        return self._chunks

    def on_accepted(self, through_seq: int) -> None:
        pass

    def on_settled(self, event: Settled) -> None:
        pass


CUT_AT_SHUTDOWN: Final = "cut at shutdown"


class CuttableSource(ChunkSource):
    """A `ChunkSource` the daemon may end before its sender did (shutdown, an idle connection):
    `cut` then says why, and the intake dead-letters an unterminated last line with that reason
    (category "cut") rather than reading it as a line. `chunks_of` builds the chunks from the
    source itself, so the reader can set `cut`."""

    __slots__ = ("cut",)

    def __init__(self, name: str, chunks_of: Callable[[CuttableSource], AsyncIterator[bytes]]):
        self.cut: str | None = None
        super().__init__(name, chunks_of(self))


@dataclass(frozen=True, slots=True)
class InputContext:
    """What inputs are built with, beyond their specs."""

    stop: asyncio.Event
    """Set when the daemon stops accepting input."""
    max_connections: int
    read_chunk_bytes: int
    wait_for_room: Callable[[], Awaitable[None]] | None = None
    """Returns once the intake has room (an input that must answer "busy" waits on it)."""
    http: HttpSettings = field(default_factory=HttpSettings)
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    """A socket connection that completes no line for this long is closed."""
    shutdown_idle_s: float = DEFAULT_SHUTDOWN_IDLE_MS / 1000
    """At stop, an input is read until nothing has arrived for this long."""
    clock: Callable[[], float] = time.monotonic


class Input(Protocol):
    """What one or more `--input` values build."""

    endless: bool
    """Runs until the daemon stops (a listener), rather than ending by itself (stdin)."""
    accepted: int
    rejected: int

    @property
    def open_connections(self) -> int: ...

    async def start(self, feed: Feed) -> list[str]:
        """Bind and begin; return what it listens on, for the log. Sources go to `feed`."""
        ...

    async def ended(self) -> None:
        """Return once the input ended by itself (never for an endless one)."""
        ...

    async def close(self, grace_s: float, cut: asyncio.Event | None = None) -> None:
        """Stop reading; let what was read be processed within `grace_s` (or until `cut`)."""
        ...


InputFactory = Callable[[Sequence[InputSpec], InputContext], Input]


class SingleSourceInput:
    """An input that feeds one source, opened by `open_source`, to its end (stdin, tests)."""

    endless = False
    accepted = 0
    rejected = 0
    open_connections = 0

    def __init__(self, name: str, open_source: Callable[[], Source], stop_grace_s: float) -> None:
        self.name = name
        self._open = open_source
        self._grace = stop_grace_s
        self._task: asyncio.Task[int] | None = None

    async def start(self, feed: Feed) -> list[str]:
        self._task = asyncio.create_task(feed(self._open()), name=f"source-{self.name}")
        self._task.add_done_callback(self._log_end)
        return [self.name]

    async def ended(self) -> None:
        if self._task is not None:
            await asyncio.wait({self._task})

    async def close(self, grace_s: float, cut: asyncio.Event | None = None) -> None:
        task = self._task
        if task is None or task.done():
            return
        if grace_s > 0:
            # A stop-aware source finishes the chunk it is reading, then ends by itself.
            await asyncio.wait({task}, timeout=self._grace)
        if not task.done():
            task.cancel()
            await asyncio.wait({task})

    def _log_end(self, task: asyncio.Task[int]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("input source failed", source=self.name, error=repr(exc))
        else:
            log.info("input ended", source=self.name, lines=task.result())


async def finish_or_cut(
    tasks: Sequence[asyncio.Task[Any]], grace_s: float, cut: asyncio.Event | None
) -> int:
    """Let `tasks` (an input's readers, at close) finish within `grace_s` or until `cut` is
    set, then cancel the rest; return how many were cancelled."""
    if grace_s > 0:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace_s):
                await _finished(tasks, cut)
    late = [task for task in tasks if not task.done()]
    for task in late:
        task.cancel()
    if late:
        await asyncio.wait(late)
    return len(late)


async def _finished(tasks: Sequence[asyncio.Task[Any]], cut: asyncio.Event | None) -> None:
    """Return once every task is done or `cut` is set."""
    pending: set[asyncio.Future[Any]] = {t for t in tasks if not t.done()}
    cutter: asyncio.Future[Any] | None = None
    if cut is not None:
        cutter = asyncio.ensure_future(cut.wait())
    try:
        while pending and not (cutter is not None and cutter.done()):
            waiting = pending if cutter is None else {*pending, cutter}
            _, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if cutter is not None:
                pending.discard(cutter)
    finally:
        if cutter is not None:
            cutter.cancel()
