"""Why a line cannot be exported: the rejection categories, `Rejected`, and its sentences.

What it does: names each kind of bad line with a short, stable category (for counting) and
writes the sentence that names the line's problem. The export's hot path only learns that a
typed decoding refused a part; the functions here decode that part again as plain JSON and check
it step by step to say what is wrong, so they run only for bad lines.

What it leaves out: deciding whether a line is bad (the export does), counting and
dead-lettering (the ingest loop and the metrics do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple

import msgspec
import orjson

STATUSES: Final = frozenset({"realized", "existing", "exited"})

# Rejection categories: short, stable labels for counting rejected lines by kind.
INVALID_UTF8: Final = "invalid_utf8"
INVALID_JSON: Final = "invalid_json"
NOT_OBJECT: Final = "not_object"
IDENTITY: Final = "identity"
SEGMENTS: Final = "segments"
TOO_LARGE: Final = "too_large"
OVERLONG: Final = "overlong"
"""A line longer than the input's line limit; set by the line framing, not by the export."""
REJECT_CATEGORIES: Final = (
    INVALID_UTF8,
    INVALID_JSON,
    NOT_OBJECT,
    IDENTITY,
    SEGMENTS,
    TOO_LARGE,
    OVERLONG,
)


class Rejected(NamedTuple):
    """A line that cannot be exported.

    `reason` is one sentence naming the problem; `category` is one of `REJECT_CATEGORIES`.
    """

    reason: str
    category: str


_DecodeError = msgspec.DecodeError
_ValidationError = msgspec.ValidationError
_decode_any = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


def bad_utf8(exc: UnicodeDecodeError) -> Rejected:
    byte = exc.object[exc.start]
    return Rejected(
        f"not valid UTF-8: invalid byte 0x{byte:02x} at byte offset {exc.start} ({exc.reason})",
        INVALID_UTF8,
    )


def bad_json(line: bytes, exc: Exception) -> Rejected:
    """Describe a syntax error; orjson's messages name the line and column, so prefer them."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as described:
        if "infinity" not in str(described):  # a huge number is fine here; the error is later
            return Rejected(f"not valid JSON: {described}", INVALID_JSON)
    if isinstance(exc, RecursionError):
        return Rejected("not valid JSON: nested too deeply to read", INVALID_JSON)
    return Rejected(f"not valid JSON: {exc}", INVALID_JSON)


def json_type_of(line: bytes) -> str:
    first = line.lstrip()[:1]
    return {b"[": "array", b'"': "string", b"t": "boolean", b"f": "boolean", b"n": "null"}.get(
        first, "number"
    )


def _explain(
    raw: msgspec.Raw,
    exc: Exception,
    field: str,
    category: str,
    problem_of: Callable[[Any], str | None],
) -> Rejected:
    """Why `field` (`raw`) failed typed decoding with `exc`, in the user's terms."""
    try:
        value = _decode_any(raw)
    except (_ValidationError, _DecodeError, RecursionError) as undecodable:
        return Rejected(f"{field} cannot be read: {undecodable}", category)
    return Rejected(problem_of(value) or f"{field} is not valid: {exc}", category)


def explain_identity(raw: msgspec.Raw, exc: Exception) -> Rejected:
    return _explain(raw, exc, "identityMap", IDENTITY, _identity_problem)


def _identity_problem(identity_map: Any) -> str | None:
    if identity_map is None:
        return "has no identityMap, so the profile has no identity to export"
    if type(identity_map) is not dict:
        return f"identityMap is a JSON {_json_type(identity_map)}, not an object"
    for namespace, ids in identity_map.items():
        if type(ids) is not list:
            return f"identityMap.{namespace} is not a list of identities"
        for i, entry in enumerate(ids):
            ident = entry.get("id") if type(entry) is dict else None
            if type(ident) is not str or not ident:
                return f"identityMap.{namespace}[{i}] has no non-empty string id"
    return None


def explain_segments(raw: msgspec.Raw, exc: Exception) -> Rejected:
    return _explain(raw, exc, "segmentMembership", SEGMENTS, _segments_problem)


def _segments_problem(membership: Any) -> str | None:
    if type(membership) is not dict:
        return f"segmentMembership is a JSON {_json_type(membership)}, not an object"
    ups = membership.get("ups")
    if ups is None:
        return None
    if type(ups) is not dict:
        return f"segmentMembership.ups is a JSON {_json_type(ups)}, not an object"
    for seg_id, entry in ups.items():
        if type(entry) is not dict:
            return f"segmentMembership.ups.{seg_id} is not an object"
        status = entry.get("status")
        if type(status) is not str or status not in STATUSES:
            return (
                f"segmentMembership.ups.{seg_id}.status is {_short(status)}, "
                "not one of realized, existing, exited"
            )
        if type(entry.get("lastQualificationTime")) is not str:
            return (
                f"segmentMembership.ups.{seg_id}.lastQualificationTime is missing or not a string"
            )
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "object"


def _short(value: Any, limit: int = 40) -> str:
    text = _encode(value).decode() if value is not None else "missing"
    return text if len(text) <= limit else text[:limit] + "..."
