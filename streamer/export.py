"""Pure transform: one input line (a profile event) -> one export record and its partition key.

What it does: decodes only what the export needs, with msgspec, and never re-prints a value it
did not have to look at: every attribute is written back as the input's own bytes, so numbers
keep their digits (integers of any size, long decimals, `1e400`) and strings their escapes. It
validates `identityMap` and `segmentMembership.ups` (typed structs, checked in C), keeps the
mapped segments (decorated with names and timestamps when the activation asks), the selected
attributes (dotted paths, nested as in the input) and the whole identityMap. Three paths, one
result:
- every attribute and every segment, undecorated: a line whose segment entries hold only
  `lastQualificationTime` and `status` is its own record (its bytes, trimmed);
- selected attributes: the line is decoded into a struct built from the selected paths
  (`streamer.selection`), so the rest is skipped in C;
- otherwise, or when those decodings refuse the line: the top level as a dict of raw values.
The record is compact JSON: whitespace between tokens is removed when the line has line breaks,
tabs or spaced separators (`": "`, `", "`); a stray space elsewhere may remain (the same JSON).
Duplicate keys are read last-wins, as JSON parsers do. It chooses the partition key from the
configured identity namespace, mapping over-long ids to a stable shorter key, and enforces the
stream's per-record size limit. The line must be valid UTF-8 throughout.

What it leaves out: I/O, counting, dead-lettering and line numbers. Failures come back as data
(`Rejected` with a sentence and a category, or `FILTERED`), never as exceptions; the sentences
are written by `streamer.rejections`, on the slow path only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgspec

from streamer import _compiled, shapes
from streamer.limits import MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES
from streamer.rejections import (
    IDENTITY,
    INVALID_JSON,
    INVALID_UTF8,
    NOT_OBJECT,
    OVERLONG,
    REJECT_CATEGORIES,
    SEGMENTS,
    STATUSES,
    TOO_LARGE,
    Rejected,
    bad_json,
    bad_utf8,
    explain_identity,
    explain_segments,
    json_type_of,
)
from streamer.selection import Selection, path_tree, select_raw

__all__ = [
    "FILTERED",
    "IDENTITY",
    "INVALID_JSON",
    "INVALID_UTF8",
    "NOT_OBJECT",
    "OVERLONG",
    "REJECT_CATEGORIES",
    "SEGMENTS",
    "STATUSES",
    "TOO_LARGE",
    "Activation",
    "Exported",
    "Exporter",
    "Rejected",
    "Result",
    "Segment",
    "stable_partition_key",
]

SEGMENT_TIMESTAMP_FIELDS: Final = ("createdAt", "updatedAt", "mappingCreatedAt", "mappingUpdatedAt")
HASHED_KEY_PREFIX: Final = "sha256:"


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment mapped to the destination, with what the export may add about it."""

    id: str
    name: str | None = None
    timestamps: Mapping[str, Any] = field(default_factory=dict)

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return _compiled.frozen_reduce(self)  # copies and pickles where compiled


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

    def __reduce__(self) -> tuple[type[Any], tuple[Any, ...]]:
        return _compiled.frozen_reduce(self)  # copies and pickles where compiled


class Exported(NamedTuple):
    """An export record ready to send: its JSON bytes and partition key."""

    data: bytes
    partition_key: str


class _Filtered:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FILTERED"


FILTERED: Final = _Filtered()
"""The profile is valid but in none of the mapped segments: counted, not exported."""

Result = Exported | Rejected | _Filtered
_new_exported: Final = tuple.__new__  # Exported(data, key) without the named tuple's Python __new__
_EXPORTED: Final = Exported  # the class, read from a C static where compiled


UNSET: Final = msgspec.UNSET
_DecodeError: Final = msgspec.DecodeError
_ValidationError: Final = msgspec.ValidationError
_UNREADABLE: Final = (_ValidationError, _DecodeError, RecursionError)
"""What a decoding raises for a line it refuses (RecursionError: nested too deeply)."""
# Final: a compiled module reads these from C statics, not from its globals dict per record.
_decode_object: Final = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode
_decode_identities: Final = msgspec.json.Decoder(dict[str, list[shapes.Identity]]).decode
_decode_membership: Final = msgspec.json.Decoder(shapes.Membership | None).decode
_decode_head: Final = msgspec.json.Decoder(shapes.Head).decode
_encode: Final = msgspec.json.Encoder().encode
_compact: Final = msgspec.json.format


def stable_partition_key(identity: str) -> str:
    """Return `identity`, or a stable shorter key when it exceeds Kinesis's 256 characters."""
    if len(identity) <= MAX_PARTITION_KEY_CHARS:
        return identity
    return HASHED_KEY_PREFIX + hashlib.sha256(identity.encode()).hexdigest()


class Exporter:
    """Applies one activation to lines; build once, call `export` per line."""

    __slots__ = (
        "_activation",
        "_decorations",
        "_limit",
        "_mapped",
        "_namespace",
        "_selection",
        "_tree",
        "_whole_line",
    )

    def __init__(self, activation: Activation) -> None:
        self._activation = activation
        self._tree = None if activation.attributes is None else path_tree(activation.attributes)
        self._mapped = None if activation.segments is None else frozenset(activation.segments)
        self._namespace = activation.partition_key_namespace
        self._limit = activation.max_record_bytes
        self._whole_line = activation.segments is None and activation.attributes is None
        """Every attribute and segment, undecorated: a line in the export format is the record."""
        self._selection = (
            None
            if self._tree is None
            else Selection.of(
                self._tree,
                [("segmentMembership", shapes.Membership | None), ("identityMap", msgspec.Raw)],
            )
        )
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
        flags = _shape(line)
        if flags & NON_ASCII:
            try:
                line.decode()
            except UnicodeDecodeError as exc:
                return bad_utf8(exc)
        if self._whole_line:
            identity = _head_key(line, self._namespace)
            if identity is not None:  # the line is its own record (the common case)
                return self._record(line, identity, flags)
            try:
                head = _decode_head(line)
            except _UNREADABLE:
                pass  # not simply the record: the general path below exports or explains it
            else:
                return self._whole(line, head, flags)
        elif (selection := self._selection) is not None:
            try:
                picked = selection.decode(line)
            except _UNREADABLE:
                pass  # a selected path meets a non-object, or a bad line: the general path
            else:
                return self._selected(line, selection, picked, flags)
        try:
            profile: dict[str, Any] = _decode_object(line)
        except _ValidationError:
            return Rejected(f"not a JSON object but a JSON {json_type_of(line)}", NOT_OBJECT)
        except (_DecodeError, RecursionError) as exc:
            return bad_json(line, exc)

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
            try:
                record = select_raw(profile, self._tree)
            except RecursionError as exc:
                return bad_json(line, exc)
            record.pop("segmentMembership", None)
            record.pop("identityMap", None)
            record["segmentMembership"] = {"ups": ups}
            record["identityMap"] = identity_raw
        data = _encode(record)
        if flags & SPACED:
            data = _compact(data, indent=-1)
        return self._sized(data, key)

    def _selected(self, line: bytes, selection: Selection, picked: Any, flags: int) -> Result:
        """Export the selected attributes decoded straight into the activation's struct."""
        identity_raw = picked.identityMap
        key = self._partition_key(None if identity_raw is UNSET else identity_raw)
        if type(key) is not str:
            return key  # type: ignore[return-value]
        membership = picked.segmentMembership
        ups = FILTERED if membership is UNSET else self._kept(membership)
        if type(ups) is not dict:
            return ups  # type: ignore[return-value]
        selection.prune(picked)
        picked.segmentMembership = {"ups": ups}
        data = _encode(picked)
        if flags & SPACED:
            data = _compact(data, indent=-1)
        return self._sized(data, key)

    def _whole(self, line: bytes, head: shapes.Head, flags: int) -> Result:
        """Export a line that holds nothing the record would drop: its own bytes are the record
        (the lines `head_key` was not sure of)."""
        identities = head.identityMap
        if identities is None:
            return Rejected(
                "has no identityMap, so the profile has no identity to export", IDENTITY
            )
        identity = _first_id(identities, self._namespace)
        if identity is None:
            return Rejected("identityMap holds no identity", IDENTITY)
        membership = head.segmentMembership
        if membership is None or not membership.ups:
            return FILTERED
        return self._record(line, identity, flags)

    def _record(self, line: bytes, identity: str, flags: int) -> Result:
        """The record of a line that is its own record, keyed by `identity` (the hot path of the
        default activation: `_sized` is written out here)."""
        key = identity
        if len(key) > MAX_PARTITION_KEY_CHARS:
            key = stable_partition_key(key)
        if flags & SPACED:
            data = _compact(line, indent=-1)
        elif line[0] == 123 and line[-1] == 125:  # {...}: nothing around the object to strip
            data = line
        else:
            data = line.strip()
        size = len(data) + (len(key) if key.isascii() else len(key.encode()))
        if size > self._limit:
            return self._too_large(size)
        return _new_exported(_EXPORTED, (data, key))

    def _sized(self, data: bytes, key: str) -> Exported | Rejected:
        size = len(data) + len(key.encode())
        if size > self._limit:
            return self._too_large(size)
        return _new_exported(_EXPORTED, (data, key))

    def _too_large(self, size: int) -> Rejected:
        return Rejected(
            f"export record is {size} bytes with its partition key, over the stream's "
            f"record limit of {self._limit} bytes",
            TOO_LARGE,
        )

    def _partition_key(self, identity_raw: msgspec.Raw | None) -> str | Rejected:
        if identity_raw is None:
            return Rejected(
                "has no identityMap, so the profile has no identity to export", IDENTITY
            )
        try:
            identities = _decode_identities(identity_raw)
        except _UNREADABLE as exc:
            return explain_identity(identity_raw, exc)
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
        except _UNREADABLE as exc:
            return explain_segments(membership_raw, exc)
        return self._kept(membership)

    def _kept(self, membership: shapes.Membership | None) -> dict[str, Any] | _Filtered:
        """The mapped segments' entries, decorated as asked; FILTERED when none is mapped."""
        ups: dict[str, Any] | None = None if membership is None else membership.ups
        if not ups:
            return FILTERED
        mapped = self._mapped
        if mapped is None:
            return ups
        decorations = self._decorations
        kept: dict[str, Any] = {}
        for seg_id, entry in ups.items():
            if seg_id in mapped:
                extra = decorations.get(seg_id)
                if extra is None:
                    kept[seg_id] = entry
                else:
                    kept[seg_id] = {
                        "lastQualificationTime": entry.lastQualificationTime,
                        "status": entry.status,
                        **extra,
                    }
        return kept or FILTERED


def _first_id(identities: dict[str, list[shapes.Identity]], namespace: str) -> str | None:
    """The first id of `namespace`, else the first id of the first namespace that has one."""
    ids = identities.get(namespace) or next((found for found in identities.values() if found), None)
    return None if ids is None else ids[0].id


def _key_of(identities: dict[str, list[shapes.Identity]], namespace: str) -> str | None:
    """The partition key: `_first_id`, mapped to a shorter stable key when over-long."""
    key = _first_id(identities, namespace)
    if key is None or len(key) <= MAX_PARTITION_KEY_CHARS:
        return key
    return stable_partition_key(key)


def spaced(line: bytes) -> bool:
    """Whether the line has line breaks, tabs or spaced separators between its tokens (half of
    `shape`)."""
    # an int operand is a plain byte search, much cheaper than a one-byte bytes operand
    return 10 in line or 9 in line or (32 in line and (b": " in line or b", " in line))


def head_key(line: bytes, namespace: str) -> str | None:
    """The identity `_whole` keys `line` by (`_first_id`, before any hashing of a long key) when
    the line decodes as a `shapes.Head` that has an identity and a segment; None otherwise. The
    line must be valid UTF-8 (the exporter checks first). The pure reference of the compiled
    `streamer._head.head_key`, which finds the same without building the decoded objects and
    may answer None where it is not sure (the exporter then decodes the line itself)."""
    try:
        head = _decode_head(line)
    except _UNREADABLE:
        return None
    identities = head.identityMap
    membership = head.segmentMembership
    if identities is None or membership is None or not membership.ups:
        return None
    return _first_id(identities, namespace)


_head_key: Final = _compiled.twin("_head", "head_key", head_key)
HEAD_COMPILED: Final = _head_key is not head_key
"""Whether the C head reader (`streamer._head`) is in use (for the start-up log and tests)."""


NON_ASCII: Final = 1
SPACED: Final = 2


def shape(line: bytes) -> int:
    """What the exporter asks of every line: `NON_ASCII` if a byte is not ASCII, plus `SPACED`
    if `spaced(line)` (the pure reference of the compiled `streamer._scan.shape`, which answers
    both in one pass, 16 bytes a step)."""
    return (0 if line.isascii() else NON_ASCII) | (SPACED if spaced(line) else 0)


_shape: Final = _compiled.twin("_scan", "shape", shape)
