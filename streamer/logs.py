"""structlog set-up: JSON lines (orjson) or a readable console format on stderr.

What it does: configures a cached, level-filtering bound logger and a last-line-of-defence
processor that masks any secret-looking key, so credentials never reach a log line.

What it leaves out: what is logged (callers log one line per event, never per record at info).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

SECRET_KEYS = frozenset(
    {
        "secret_access_key",
        "aws_secret_access_key",
        "session_token",
        "access_key_id",
        "authorization",
        "password",
    }
)


def _mask_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in SECRET_KEYS.intersection(event):
        event[key] = "***"
    return event


def configure(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog once for the process."""
    renderer: Any
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        factory: Any = structlog.PrintLoggerFactory(sys.stderr)
    else:
        renderer = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        factory = structlog.BytesLoggerFactory(sys.stderr.buffer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _mask_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
