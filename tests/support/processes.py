"""`streamer` as a subprocess: its command line, a clean AWS environment, and a running daemon.

What it does: runs `python -m streamer` once to completion (`run_streamer`) or as a long-running
`Daemon` whose JSON log lines are read back from a file, and polls for a condition (`until`)
instead of sleeping a fixed time.
What it leaves out: the server it talks to (the moto fixtures in `tests/integration/conftest.py`
or the benchmark endpoint) and in-process runs (`inprocess`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from local_kinesis import DUMMY_CREDENTIALS


def streamer_cmd(*args: str) -> list[str]:
    """The command line that runs `streamer` with these arguments in this interpreter."""
    return [sys.executable, "-m", "streamer", *args]


def aws_env(**extra: str) -> dict[str, str]:
    """This environment without AWS_* variables, plus dummy credentials and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=DUMMY_CREDENTIALS["aws_access_key_id"],
        AWS_SECRET_ACCESS_KEY=DUMMY_CREDENTIALS["aws_secret_access_key"],
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update(extra)
    return env


def run_streamer(
    args: list[str], stdin: bytes, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[bytes]:
    """Run `streamer ARGS` to completion with `stdin` as input; capture its output."""
    return subprocess.run(
        streamer_cmd(*args),
        input=stdin,
        env=env if env is not None else aws_env(),
        capture_output=True,
        timeout=timeout,
        check=False,
    )


class Daemon:
    """A `streamer run` process with stderr in a file, read as JSON log events."""

    def __init__(self, args: list[str], tmp_path: Path, **popen: Any) -> None:
        self.stderr = tmp_path / "stderr.log"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                streamer_cmd("run", *args),
                stdin=popen.pop("stdin", subprocess.DEVNULL),
                stdout=subprocess.DEVNULL,
                stderr=err,
                env=popen.pop("env", aws_env()),
                **popen,
            )

    def events(self) -> list[dict[str, Any]]:
        lines = self.stderr.read_bytes().splitlines()
        return [orjson.loads(line) for line in lines if line.startswith(b"{")]

    def wait_for(self, name: str, timeout: float = 20) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((e for e in self.events() if e.get("event") == name), None)

        result: dict[str, Any] = until(
            found, timeout, lambda: self.proc.poll() is not None, self.stderr
        )
        return result

    def finish(self, timeout: float = 30) -> tuple[int, dict[str, Any]]:
        rc = self.proc.wait(timeout)
        last = self.stderr.read_bytes().splitlines()[-1]
        return rc, orjson.loads(last)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def until(
    probe: Callable[[], Any],
    timeout: float = 20,
    dead: Callable[[], bool] = lambda: False,
    log: Path | None = None,
) -> Any:
    """Poll `probe` until it returns something truthy (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        if dead():
            raise AssertionError(f"the daemon exited: {log.read_text()[-2000:] if log else ''}")
        time.sleep(0.02)
    raise AssertionError(f"timed out: {log.read_text()[-2000:] if log else ''}")


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


def send(address: str, data: bytes, *, chunk: int = 64 * 1024) -> None:
    if address.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(address.removeprefix("unix://"))
    else:
        host, port = address.removeprefix("tcp://").rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
    with sock:
        for start in range(0, len(data), chunk):
            sock.sendall(data[start : start + chunk])
