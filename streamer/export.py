"""Pure transform: one input line (a profile event) -> one export record and its partition key.

What it does: decodes only what the export needs with msgspec. The top level becomes a dict of
`msgspec.Raw` values (JSON syntax checked, nothing else built); `identityMap` and
`segmentMembership.ups` are decoded into typed structs that validate them in C; the selected
attribute paths are descended into only as deep as they go. Every other value stays as the
input's own bytes and is written back verbatim, so numbers keep their digits (integers of any
size, long decimals, `1e400`) and strings their escapes. The record keeps the mapped segments
(decorated with names and timestamps when the activation asks), the selected attributes (dotted
paths, nested as in the input) and the whole identityMap, as compact JSON: whitespace between
tokens is removed when the line has line breaks, tabs or spaced separators (`": "`, `", "`);
a stray space elsewhere may remain, which is the same JSON. It chooses the partition key from
the configured identity namespace, mapping over-long ids to a stable shorter key, and enforces
the stream's per-record size limit. The line must be valid UTF-8 throughout.

What it leaves out: I/O, counting, dead-lettering and line numbers. Failures come back as data
(`Rejected` with a sentence naming the problem and a machine-readable category, or `FILTERED`),
never as exceptions. The sentence for a bad line is found on the slow path: when the typed
decoding refuses a part, that part is decoded again as plain JSON and checked step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, NamedTuple

import msgspec
import orjson

from streamer.limits import MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES

STATUSES: Final = frozenset({"realized", "existing", "exited"})
SEGMENT_TIMESTAMP_FIELDS: Final = ("createdAt", "updatedAt", "mappingCreatedAt", "mappingUpdatedAt")
HASHED_KEY_PREFIX: Final = "sha256:"

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


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment mapped to the destination, with what the export may add about it."""

    id: str
    name: str | None = None
    timestamps: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Activation:
    """What the destination exports: mapped segments, selected attributes, key namespace."""

    segments: Mapping[str, Segment] | None = None
    """Mapped segments by id; None exports every segment."""
    attributes: tuple[str, ...] | None = None
    """Selected dotted attribute paths; None exports every attribute."""
    include_segment_names: bool = False
    include_segment_timestamps: bool = False
    partition_key_namespace: str = "ecid"
    max_record_bytes: int = MAX_RECORD_BYTES


class Exported(NamedTuple):
    """An export record ready to send: its JSON bytes and partition key."""

    data: bytes
    partition_key: str


class Rejected(NamedTuple):
    """A line that cannot be exported.

    `reason` is one sentence naming the problem; `category` is one of `REJECT_CATEGORIES`.
    """

    reason: str
    category: str


class _Filtered:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FILTERED"


FILTERED: Final = _Filtered()
"""The profile is valid but in none of the mapped segments: counted, not exported."""

Result = Exported | Rejected | _Filtered


# The typed shapes decoded on the hot path; unknown fields are skipped without being parsed.
class _Identity(msgspec.Struct, gc=False):
    id: Annotated[str, msgspec.Meta(min_length=1)]


class _Qualification(msgspec.Struct, gc=False):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class _Membership(msgspec.Struct, gc=False):
    ups: dict[str, _Qualification] | None = None


# The same, refusing any other field: a line that decodes as `_Head` is its own export record
# when every attribute and every segment is exported without decorations.
class _ExactQualification(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class _ExactMembership(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    ups: dict[str, _ExactQualification] | None = None


class _Head(msgspec.Struct, gc=False):
    identityMap: dict[str, list[_Identity]] | None = None
    segmentMembership: _ExactMembership | None = None


_Raw = msgspec.Raw
_DecodeError = msgspec.DecodeError
_ValidationError = msgspec.ValidationError
_decode_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_identities = msgspec.json.Decoder(dict[str, list[_Identity]]).decode
_decode_membership = msgspec.json.Decoder(_Membership | None).decode
_decode_head = msgspec.json.Decoder(_Head).decode
_decode_any = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode
_compact = msgspec.json.format

_PathTree = dict[str, "_PathTree | None"]


def _path_tree(paths: Iterable[str]) -> _PathTree:
    """Turn dotted paths into a nested selection tree; a leaf (None) selects the whole value."""
    tree: _PathTree = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = None
                break
            child = node.get(part, {})
            if child is None:  # a shorter path already selects the whole subtree
                break
            node[part] = child
            node = child
    return tree


def _select(obj: Mapping[str, msgspec.Raw], tree: _PathTree) -> dict[str, Any]:
    """Pick the selected paths out of a decoded object, descending into raw objects as needed."""
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        value = obj.get(key)
        if value is None:
            continue
        if sub is None:
            out[key] = value
            continue
        try:
            inner = _decode_object(value)
        except _ValidationError:  # not an object: nothing below it to select
            continue
        picked = _select(inner, sub)
        if picked:
            out[key] = picked
    return out


def stable_partition_key(identity: str) -> str:
    """Return `identity`, or a stable shorter key when it exceeds Kinesis's 256 characters."""
    if len(identity) <= MAX_PARTITION_KEY_CHARS:
        return identity
    return HASHED_KEY_PREFIX + hashlib.sha256(identity.encode()).hexdigest()


class Exporter:
    """Applies one activation to lines; build once, call `export` per line."""

    __slots__ = ("_activation", "_decorations", "_mapped", "_namespace", "_tree", "_whole_line")

    def __init__(self, activation: Activation) -> None:
        self._activation = activation
        self._tree = None if activation.attributes is None else _path_tree(activation.attributes)
        self._mapped = None if activation.segments is None else frozenset(activation.segments)
        self._namespace = activation.partition_key_namespace
        self._whole_line = activation.segments is None and activation.attributes is None
        """Every attribute and segment, undecorated: a line in the export format is the record."""
        self._decorations: dict[str, dict[str, Any]] = {}
        if activation.segments is not None:
            for seg in activation.segments.values():
                extra: dict[str, Any] = {}
                if activation.include_segment_names and seg.name is not None:
                    extra["name"] = seg.name
                if activation.include_segment_timestamps:
                    extra.update(
                        (k, seg.timestamps[k])
                        for k in SEGMENT_TIMESTAMP_FIELDS
                        if k in seg.timestamps
                    )
                if extra:
                    self._decorations[seg.id] = extra

    def export(self, line: bytes) -> Result:
        """Transform one input line; never raises for bad input."""
        if not line.isascii():
            try:
                line.decode()
            except UnicodeDecodeError as exc:
                return _bad_utf8(exc)
        if self._whole_line:
            try:
                head = _decode_head(line)
            except (_ValidationError, _DecodeError):
                pass  # not simply the record: the general path below exports or explains it
            else:
                return self._whole(line, head)
        try:
            profile: dict[str, Any] = _decode_object(line)
        except _ValidationError:
            return Rejected(f"not a JSON object but a JSON {_json_type_of(line)}", NOT_OBJECT)
        except _DecodeError as exc:
            return _bad_json(line, exc)

        identity_raw = profile.get("identityMap")
        key = self._partition_key(identity_raw)
        if type(key) is not str:
            return key  # type: ignore[return-value]
        ups = self._segments(profile.get("segmentMembership"))
        if type(ups) is not dict:
            return ups  # type: ignore[return-value]

        if self._tree is None:
            record = profile  # every attribute, in input order
            record["segmentMembership"] = {"ups": ups}
        else:  # the selected attributes, then the seed format's order
            record = _select(profile, self._tree)
            record.pop("segmentMembership", None)
            record.pop("identityMap", None)
            record["segmentMembership"] = {"ups": ups}
            record["identityMap"] = identity_raw
        data = _encode(record)
        if _spaced(line):
            data = _compact(data, indent=-1)
        return self._sized(data, key)

    def _whole(self, line: bytes, head: _Head) -> Result:
        """Export a line that holds nothing the record would drop: its own bytes are the record."""
        if head.identityMap is None:
            return Rejected(
                "has no identityMap, so the profile has no identity to export", IDENTITY
            )
        key = _key_of(head.identityMap, self._namespace)
        if key is None:
            return Rejected("identityMap holds no identity", IDENTITY)
        membership = head.segmentMembership
        if membership is None or not membership.ups:
            return FILTERED
        if _spaced(line):
            data = _compact(line, indent=-1)
        elif line[0] == 123 and line[-1] == 125:  # {...}: nothing around the object to strip
            data = line
        else:
            data = line.strip()
        return self._sized(data, key)

    def _sized(self, data: bytes, key: str) -> Exported | Rejected:
        size = len(data) + len(key.encode())
        limit = self._activation.max_record_bytes
        if size > limit:
            return Rejected(
                f"export record is {size} bytes with its partition key, over the stream's "
                f"record limit of {limit} bytes",
                TOO_LARGE,
            )
        return Exported(data, key)

    def _partition_key(self, identity_raw: msgspec.Raw | None) -> str | Rejected:
        if identity_raw is None:
            return Rejected(
                "has no identityMap, so the profile has no identity to export", IDENTITY
            )
        try:
            identities = _decode_identities(identity_raw)
        except (_ValidationError, _DecodeError) as exc:
            return _explain_identity(identity_raw, exc)
        key = _key_of(identities, self._namespace)
        if key is None:
            return Rejected("identityMap holds no identity", IDENTITY)
        return key

    def _segments(
        self, membership_raw: msgspec.Raw | None
    ) -> dict[str, Any] | Rejected | _Filtered:
        """The exported `ups` entries, or FILTERED when the profile is in no mapped segment."""
        if membership_raw is None:
            return FILTERED
        try:
            membership = _decode_membership(membership_raw)
        except (_ValidationError, _DecodeError) as exc:
            return _explain_segments(membership_raw, exc)
        ups: dict[str, Any] | None = None if membership is None else membership.ups
        if not ups:
            return FILTERED
        mapped = self._mapped
        if mapped is None:
            return ups
        ups = {seg_id: entry for seg_id, entry in ups.items() if seg_id in mapped}
        if not ups:
            return FILTERED
        decorations = self._decorations
        if decorations:
            for seg_id, entry in ups.items():
                extra = decorations.get(seg_id)
                if extra is not None:
                    ups[seg_id] = {
                        "lastQualificationTime": entry.lastQualificationTime,
                        "status": entry.status,
                        **extra,
                    }
        return ups


def _key_of(identities: dict[str, list[_Identity]], namespace: str) -> str | None:
    """The first id of `namespace`, else the first id of the first namespace that has one."""
    ids = identities.get(namespace)
    if not ids:
        ids = next((found for found in identities.values() if found), None)
        if ids is None:
            return None
    key = ids[0].id
    return key if len(key) <= MAX_PARTITION_KEY_CHARS else stable_partition_key(key)


def _spaced(line: bytes) -> bool:
    """Whether the line has line breaks, tabs or spaced separators between its tokens."""
    # an int operand is a plain byte search, much cheaper than a one-byte bytes operand
    return 10 in line or 9 in line or (32 in line and (b": " in line or b", " in line))


# -- the slow path: a sentence for each kind of bad line ------------------------------------


def _bad_utf8(exc: UnicodeDecodeError) -> Rejected:
    byte = exc.object[exc.start]
    return Rejected(
        f"not valid UTF-8: invalid byte 0x{byte:02x} at byte offset {exc.start} ({exc.reason})",
        INVALID_UTF8,
    )


def _bad_json(line: bytes, exc: msgspec.DecodeError) -> Rejected:
    """Describe a syntax error; orjson's messages name the line and column, so prefer them."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as described:
        if "infinity" not in str(described):  # a huge number is fine here; the error is later
            return Rejected(f"not valid JSON: {described}", INVALID_JSON)
    return Rejected(f"not valid JSON: {exc}", INVALID_JSON)


def _json_type_of(line: bytes) -> str:
    first = line.lstrip()[:1]
    return {b"[": "array", b'"': "string", b"t": "boolean", b"f": "boolean", b"n": "null"}.get(
        first, "number"
    )


def _explain_identity(raw: msgspec.Raw, exc: Exception) -> Rejected:
    try:
        identity_map = _decode_any(raw)
    except (_ValidationError, _DecodeError) as undecodable:
        return Rejected(f"identityMap cannot be read: {undecodable}", IDENTITY)
    problem = _identity_problem(identity_map)
    return Rejected(problem or f"identityMap is not valid: {exc}", IDENTITY)


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


def _explain_segments(raw: msgspec.Raw, exc: Exception) -> Rejected:
    try:
        membership = _decode_any(raw)
    except (_ValidationError, _DecodeError) as undecodable:
        return Rejected(f"segmentMembership cannot be read: {undecodable}", SEGMENTS)
    problem = _segments_problem(membership)
    return Rejected(problem or f"segmentMembership is not valid: {exc}", SEGMENTS)


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
