"""Pure transform: one input line (a profile event) -> one export record and its partition key.

What it does: parses the line with orjson, validates the parts the destination's export format
depends on (identityMap, segmentMembership.ups), keeps only the mapped segments (decorated with
names and timestamps when the activation asks), the selected attributes (dotted paths, nested as
in the input) and the whole identityMap, and encodes the record as compact JSON. It chooses the
partition key from the configured identity namespace, mapping over-long ids to a stable shorter
key, and enforces the stream's per-record size limit.

What it leaves out: I/O, counting, dead-lettering and line numbers. Failures come back as data
(`Rejected` with a sentence naming the problem, or `FILTERED`), never as exceptions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import orjson

from streamer.limits import MAX_PARTITION_KEY_CHARS, MAX_RECORD_BYTES

STATUSES: Final = frozenset({"realized", "existing", "exited"})
SEGMENT_TIMESTAMP_FIELDS: Final = ("createdAt", "updatedAt", "mappingCreatedAt", "mappingUpdatedAt")
HASHED_KEY_PREFIX: Final = "sha256:"


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
    """A line that cannot be exported; `reason` is one sentence naming the problem."""

    reason: str


class _Filtered:
    __slots__ = ()

    def __repr__(self) -> str:
        return "FILTERED"


FILTERED: Final = _Filtered()
"""The profile is valid but in none of the mapped segments: counted, not exported."""

Result = Exported | Rejected | _Filtered

_loads = orjson.loads
_dumps = orjson.dumps

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


def _select(obj: Mapping[str, Any], tree: _PathTree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in obj:
            continue
        value = obj[key]
        if sub is None:
            out[key] = value
        elif isinstance(value, dict):
            picked = _select(value, sub)
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

    __slots__ = ("_activation", "_decorations", "_mapped", "_tree")

    def __init__(self, activation: Activation) -> None:
        self._activation = activation
        self._tree = None if activation.attributes is None else _path_tree(activation.attributes)
        self._mapped = None if activation.segments is None else frozenset(activation.segments)
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
        try:
            profile = _loads(line)
        except orjson.JSONDecodeError as exc:
            return Rejected(f"not valid JSON: {exc}")
        if type(profile) is not dict:
            return Rejected(f"not a JSON object but a JSON {_json_type(profile)}")

        identity_map = profile.get("identityMap")
        key = self._partition_key(identity_map)
        if type(key) is not str:
            return key  # type: ignore[return-value]
        segments = self._segments(profile.get("segmentMembership"))
        if type(segments) is not dict:
            return segments  # type: ignore[return-value]
        if not segments:
            return FILTERED

        if self._tree is None:
            record = profile.copy()  # every attribute, in input order
            record["segmentMembership"] = {"ups": segments}
        else:  # the selected attributes, then the seed format's order
            record = _select(profile, self._tree)
            record.pop("segmentMembership", None)
            record.pop("identityMap", None)
            record["segmentMembership"] = {"ups": segments}
            record["identityMap"] = identity_map
        try:
            data = _dumps(record)
        except TypeError as exc:  # pragma: no cover - parsed JSON is always encodable
            return Rejected(f"cannot be encoded as JSON: {exc}")
        size = len(data) + len(key.encode())
        limit = self._activation.max_record_bytes
        if size > limit:
            return Rejected(
                f"export record is {size} bytes with its partition key, over the stream's "
                f"record limit of {limit} bytes"
            )
        return Exported(data, key)

    def _partition_key(self, identity_map: Any) -> str | Rejected:
        if identity_map is None:
            return Rejected("has no identityMap, so the profile has no identity to export")
        if type(identity_map) is not dict:
            return Rejected(f"identityMap is a JSON {_json_type(identity_map)}, not an object")
        first: str | None = None
        preferred: str | None = None
        wanted = self._activation.partition_key_namespace
        for namespace, ids in identity_map.items():
            if type(ids) is not list:
                return Rejected(f"identityMap.{namespace} is not a list of identities")
            for i, entry in enumerate(ids):
                ident = entry.get("id") if type(entry) is dict else None
                if type(ident) is not str or not ident:
                    return Rejected(f"identityMap.{namespace}[{i}] has no non-empty string id")
            if ids:
                if first is None:
                    first = ids[0]["id"]
                if preferred is None and namespace == wanted:
                    preferred = ids[0]["id"]
        chosen = preferred if preferred is not None else first
        if chosen is None:
            return Rejected("identityMap holds no identity")
        if len(chosen) > MAX_PARTITION_KEY_CHARS:
            return stable_partition_key(chosen)
        return chosen

    def _segments(self, membership: Any) -> dict[str, Any] | Rejected:
        if membership is None:
            return {}
        if type(membership) is not dict:
            return Rejected(f"segmentMembership is a JSON {_json_type(membership)}, not an object")
        ups = membership.get("ups")
        if ups is None:
            return {}
        if type(ups) is not dict:
            return Rejected(f"segmentMembership.ups is a JSON {_json_type(ups)}, not an object")
        mapped = self._mapped
        decorations = self._decorations
        out: dict[str, Any] = {}
        for seg_id, entry in ups.items():
            if type(entry) is not dict:
                return Rejected(f"segmentMembership.ups.{seg_id} is not an object")
            status = entry.get("status")
            if type(status) is not str or status not in STATUSES:
                return Rejected(
                    f"segmentMembership.ups.{seg_id}.status is {_short(status)}, "
                    "not one of realized, existing, exited"
                )
            when = entry.get("lastQualificationTime")
            if type(when) is not str:
                return Rejected(
                    f"segmentMembership.ups.{seg_id}.lastQualificationTime "
                    "is missing or not a string"
                )
            if mapped is not None and seg_id not in mapped:
                continue
            extra = decorations.get(seg_id)
            if extra is None and len(entry) == 2:
                out[seg_id] = entry  # already exactly {lastQualificationTime, status}
            else:
                exported = {"lastQualificationTime": when, "status": status}
                if extra:
                    exported.update(extra)
                out[seg_id] = exported
        return out


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
    text = orjson.dumps(value).decode() if value is not None else "missing"
    return text if len(text) <= limit else text[:limit] + "..."
