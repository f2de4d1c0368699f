"""The HTTP input's bearer token: read from a file, re-read when the file changes.

What it does: `TokenFile` reads the token (the file's text, stripped) at start-up, refusing a
missing or empty file with a `ConfigError`, and warns when the file is readable by every user.
`authorized(header)` checks an `Authorization` header against it in constant time
(`hmac.compare_digest`). Before each check it stats the file (one `stat` per request) and
re-reads it when its inode, size or modification time changed, so a token is rotated by
replacing the file, with no restart. A file that disappears or turns empty fails closed: every
request is refused until a token is back (logged at most once per interval).

What it leaves out: where the token comes from and how it is rotated (the operator's tooling);
TLS (`http.py`); any other authentication scheme.
"""

from __future__ import annotations

import hmac
import os
import stat
import time
from pathlib import Path

import structlog

from streamer.errors import ConfigError
from streamer.limits import REPEATED_WARNING_INTERVAL_S
from streamer.logthrottle import Every

log = structlog.get_logger("streamer.http")

BEARER = "bearer "


class TokenFile:
    """The current token of `path`; `authorized` checks a request's `Authorization` header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._token: bytes | None = None
        self._missing_warning = Every(REPEATED_WARNING_INTERVAL_S)
        problem = self._refresh()
        if problem is not None:
            raise ConfigError(f"http_token_file {path}: {problem}")

    def authorized(self, header: str | None) -> bool:
        """Whether `header` is `Bearer <the current token>`."""
        problem = self._refresh()
        if problem is not None:
            count = self._missing_warning.due(time.monotonic())
            if count is not None:
                log.warning(
                    "HTTP token unavailable: refusing every request",
                    file=str(self.path),
                    problem=problem,
                    count=count,
                )
        token = self._token
        if token is None or header is None or header[: len(BEARER)].lower() != BEARER:
            return False
        offered = header[len(BEARER) :].strip().encode()
        return hmac.compare_digest(offered, token)

    def _refresh(self) -> str | None:
        """Re-read the token if the file changed; return what is wrong with it, if anything."""
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._token, self._seen = None, None
            return f"cannot be read: {exc.strerror or exc}"
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return None if self._token is not None else "is empty"
        try:
            text = self.path.read_bytes().strip()
        except OSError as exc:
            self._token, self._seen = None, None
            return f"cannot be read: {exc.strerror or exc}"
        self._seen = seen
        self._token = text or None
        if not text:
            return "is empty"
        if st.st_mode & stat.S_IROTH:
            log.warning(
                "the HTTP token file is readable by every user of this machine: chmod 600 it",
                file=str(self.path),
            )
        log.info("HTTP token loaded", file=str(self.path))
        return None
