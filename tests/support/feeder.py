"""A thread that writes events into a daemon's stdin, for the crash tests.

What it does: `Feeder` makes its events (`client_event(1, i)`, one per line) beforehand, so it
writes faster than any daemon reads: at a signal the daemon always holds lines read and not yet
delivered (a feeder generating as it writes could fall behind and leave the daemon idle). It
counts the lines fully written and closes stdin once all are. `stop_feeding` kills the daemon
and ends the feeder, whatever state the test left them in.

What it leaves out: starting the daemon and judging what it delivered.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading

from tests.support.events import client_event as event
from tests.support.processes import Daemon

CHUNK_LINES = 100


class Feeder(threading.Thread):
    """Writes `total` events into the daemon's stdin until it breaks; `written` counts the
    lines fully written."""

    def __init__(self, proc: subprocess.Popen[bytes], total: int) -> None:
        super().__init__(daemon=True)
        self.proc = proc
        self.written = 0
        self.chunks = [
            b"".join(event(1, i) + b"\n" for i in range(start, min(start + CHUNK_LINES, total)))
            for start in range(0, total, CHUNK_LINES)
        ]

    def run(self) -> None:
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        try:
            for chunk in self.chunks:
                done = 0
                while done < len(chunk):  # a pipe may take part of a write
                    taken = os.write(fd, chunk[done:])
                    self.written += chunk.count(b"\n", done, done + taken)
                    done += taken
        except OSError:  # the daemon is gone (broken pipe) or stdin was closed
            return
        self.proc.stdin.close()


def stop_feeding(daemon: Daemon, feeder: Feeder) -> None:
    """Kill the daemon (if still running), end the feeder and close the daemon's stdin."""
    daemon.kill()
    feeder.join(timeout=10)
    if daemon.proc.stdin is not None:
        with contextlib.suppress(BrokenPipeError):
            daemon.proc.stdin.close()
