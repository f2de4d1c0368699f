"""Scripted faults: the kinds a PutRecords request can be answered with, checked and rendered.

What it does: `check_action` validates one scripted action (status, throttle, expired_token,
access_denied, reset, stall, wrong_count, truncated, garbage, partial, ok); `refusal` turns an
action that accepts nothing into its `Reply`. The model queues actions and pops one per
PutRecords request; the actions that accept records first (partial, wrong_count, truncated,
stall with accept) are applied by the model around its accept loop.
What it leaves out: every operation but PutRecords, and faults on the connection before a
request is read.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from benchmarks.endpoint.api import INTERNAL, THROTTLED, ApiError, Reply

FAULT_KINDS: Final = frozenset(
    {
        "status", "throttle", "expired_token", "access_denied", "reset", "stall",
        "wrong_count", "truncated", "garbage", "partial", "ok",
    }
)  # fmt: skip


def check_action(action: Any) -> dict[str, Any]:
    if not isinstance(action, dict) or action.get("kind") not in FAULT_KINDS:
        raise ValueError(f"unknown fault action {action!r}; kinds: {sorted(FAULT_KINDS)}")
    kind = action["kind"]
    if kind == "status" and action.get("status") not in (500, 503):
        raise ValueError("a status fault needs status 500 or 503")
    if kind == "stall" and not isinstance(action.get("seconds"), int | float):
        raise ValueError("a stall fault needs seconds")
    if kind == "partial" and not (
        isinstance(action.get("fail"), list) and all(isinstance(i, int) for i in action["fail"])
    ):
        raise ValueError("a partial fault needs fail: a list of record indices")
    return action


def refusal(action: dict[str, Any]) -> Reply | None:
    """The reply for a fault that accepts nothing, or None when records are to be processed."""
    kind = action["kind"]
    if kind == "status":
        error_type = INTERNAL if action["status"] == 500 else "ServiceUnavailable"
        return Reply(action["status"], orjson.dumps({"__type": error_type}))
    if kind in ("throttle", "expired_token", "access_denied"):
        error_type = {
            "throttle": THROTTLED,
            "expired_token": "ExpiredTokenException",
            "access_denied": "AccessDeniedException",
        }[kind]
        return ApiError(400, error_type, f"Scripted {error_type}.").reply()
    if kind == "reset":
        return Reply(0, b"", disconnect="reset")
    if kind == "garbage":
        return Reply(200, b"<html>this is not JSON</html>")
    if kind == "stall" and not action.get("accept", True):
        return Reply(500, orjson.dumps({"__type": INTERNAL}), delay_s=float(action["seconds"]))
    return None
