"""Export transform: validation reasons, segment filtering, attribute selection, partition key,
and the per-record size limit at its exact edge."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.export import (
    FILTERED,
    Activation,
    Exported,
    Exporter,
    Rejected,
    Segment,
    stable_partition_key,
)
from streamer.limits import MAX_PARTITION_KEY_CHARS

SEG_EXITED = "7841ba61-23c1-4bb3-a495-00d3g5fe1e93"
SEG_EXISTING = "59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae"

# The example export record from the destination's documentation (the project's seed text).
SEED: dict[str, Any] = {
    "person": {"email": "yourstruly@adobe.con"},
    "segmentMembership": {
        "ups": {
            SEG_EXITED: {"lastQualificationTime": "2020-05-25T21:24:39Z", "status": "exited"},
            SEG_EXISTING: {"lastQualificationTime": "2020-05-25T23:37:33Z", "status": "existing"},
        }
    },
    "identityMap": {
        "ecid": [
            {"id": "14575006536349286404619648085736425115"},
            {"id": "66478888669296734530114754794777368480"},
        ],
        "email_lc_sha256": [
            {"id": "655332b5fa2aea4498bf7a290cff017cb4"},
            {"id": "66baf76ef9de8b42df8903f00e0e3dc0b7"},
        ],
    },
}

RICH: dict[str, Any] = {
    "person": {"email": "a@example.com", "name": {"firstName": "Ada", "lastName": "Lovelace"}},
    "mobilePhone": {"number": "+44 1", "primary": True},
    "loyalty": {"tier": "gold"},
    "segmentMembership": {
        "ups": {"s1": {"lastQualificationTime": "2026-01-01T00:00:00Z", "status": "realized"}}
    },
    "identityMap": {"ecid": [{"id": "E1"}]},
}


def line(obj: Any) -> bytes:
    return orjson.dumps(obj)


def export_ok(activation: Activation, obj: Any) -> tuple[dict[str, Any], str]:
    """Export `obj` and return the decoded record and its partition key; fail if not exported."""
    result = Exporter(activation).export(line(obj))
    assert isinstance(result, Exported), result
    return orjson.loads(result.data), result.partition_key


def test_seed_record_exports_unchanged_with_defaults() -> None:
    """With every segment and attribute, the seed record comes back field for field."""
    result = Exporter(Activation()).export(line(SEED))
    assert isinstance(result, Exported)
    assert orjson.loads(result.data) == SEED
    assert list(orjson.loads(result.data)) == ["person", "segmentMembership", "identityMap"]
    assert result.partition_key == "14575006536349286404619648085736425115"


def test_seed_record_pretty_printed_input_gives_compact_output() -> None:
    """Indented input is re-encoded as compact JSON, byte for byte what orjson would emit."""
    pretty = orjson.dumps(SEED, option=orjson.OPT_INDENT_2)
    result = Exporter(Activation()).export(pretty)
    assert isinstance(result, Exported)
    assert result.data == orjson.dumps(SEED)
    assert b"\n" not in result.data


def test_seed_record_with_one_mapped_segment_and_email_only() -> None:
    """Mapping one segment and selecting person.email keeps that segment and every identity."""
    activation = Activation(
        segments={SEG_EXISTING: Segment(SEG_EXISTING)}, attributes=("person.email",)
    )
    record, key = export_ok(activation, SEED)
    expected = copy.deepcopy(SEED)
    del expected["segmentMembership"]["ups"][SEG_EXITED]
    assert record == expected
    assert key == "14575006536349286404619648085736425115"


def test_crlf_line_ending_is_accepted() -> None:
    """A line still carrying its CR (from CRLF input) parses like the bare line."""
    result = Exporter(Activation()).export(line(SEED) + b"\r")
    assert isinstance(result, Exported)
    assert orjson.loads(result.data) == SEED


# -- validation ------------------------------------------------------------------------------


def with_(**changes: Any) -> bytes:
    """The RICH profile with top-level keys replaced (a value of ... deletes the key)."""
    obj = copy.deepcopy(RICH)
    for key, value in changes.items():
        if value is ...:
            obj.pop(key, None)
        else:
            obj[key] = value
    return line(obj)


def ups(entry: Any) -> dict[str, Any]:
    return {"ups": {"s1": entry}}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "not valid JSON", id="not-json"),
        pytest.param(b'{"a": 1', "not valid JSON", id="truncated"),
        pytest.param(
            b'{"a": "\xff"}',
            "not valid UTF-8: invalid byte 0xff at byte offset 7",
            id="bad-utf8",
        ),
        pytest.param(b"[1, 2]", "not a JSON object but a JSON array", id="array"),
        pytest.param(b'"text"', "not a JSON object but a JSON string", id="string"),
        pytest.param(b"12.5", "not a JSON object but a JSON number", id="number"),
        pytest.param(b"true", "not a JSON object but a JSON boolean", id="boolean"),
        pytest.param(b"null", "not a JSON object but a JSON null", id="null"),
        pytest.param(with_(identityMap=...), "has no identityMap", id="no-identity-map"),
        pytest.param(
            with_(identityMap=[{"id": "x"}]), "identityMap is a JSON array, not an object", id="im"
        ),
        pytest.param(
            with_(identityMap={"ecid": {"id": "x"}}),
            "identityMap.ecid is not a list of identities",
            id="ns-not-list",
        ),
        pytest.param(
            with_(identityMap={"ecid": [{"id": "a"}, {"xid": "b"}]}),
            r"identityMap.ecid\[1\] has no non-empty string id",
            id="id-missing",
        ),
        pytest.param(
            with_(identityMap={"ecid": [{"id": ""}]}),
            r"identityMap.ecid\[0\] has no non-empty string id",
            id="id-empty",
        ),
        pytest.param(
            with_(identityMap={"ecid": [{"id": 42}]}),
            r"identityMap.ecid\[0\] has no non-empty string id",
            id="id-number",
        ),
        pytest.param(
            with_(identityMap={"ecid": ["plain"]}),
            r"identityMap.ecid\[0\] has no non-empty string id",
            id="id-not-object",
        ),
        pytest.param(with_(identityMap={}), "identityMap holds no identity", id="im-empty"),
        pytest.param(
            with_(identityMap={"ecid": [], "email": []}),
            "identityMap holds no identity",
            id="im-all-empty",
        ),
        pytest.param(
            with_(segmentMembership="yes"),
            "segmentMembership is a JSON string, not an object",
            id="membership-string",
        ),
        pytest.param(
            with_(segmentMembership={"ups": []}),
            "segmentMembership.ups is a JSON array, not an object",
            id="ups-array",
        ),
        pytest.param(
            with_(segmentMembership=ups("realized")),
            "segmentMembership.ups.s1 is not an object",
            id="segment-not-object",
        ),
        pytest.param(
            with_(segmentMembership=ups({"lastQualificationTime": "t", "status": "gone"})),
            'segmentMembership.ups.s1.status is "gone", not one of realized, existing, exited',
            id="bad-status",
        ),
        pytest.param(
            with_(segmentMembership=ups({"lastQualificationTime": "t"})),
            "segmentMembership.ups.s1.status is missing",
            id="no-status",
        ),
        pytest.param(
            with_(segmentMembership=ups({"status": "realized"})),
            "segmentMembership.ups.s1.lastQualificationTime is missing or not a string",
            id="no-time",
        ),
        pytest.param(
            with_(segmentMembership=ups({"status": "realized", "lastQualificationTime": 5})),
            "segmentMembership.ups.s1.lastQualificationTime is missing or not a string",
            id="time-number",
        ),
    ],
)
def test_invalid_lines_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    """Each kind of bad input comes back as `Rejected` with a sentence naming the problem."""
    result = Exporter(Activation()).export(raw)
    assert isinstance(result, Rejected), result
    assert re.search(reason, result.reason), result.reason


def test_long_bad_status_is_shortened_in_the_reason() -> None:
    """A huge status value is quoted only by its first characters."""
    result = Exporter(Activation()).export(
        with_(segmentMembership=ups({"lastQualificationTime": "t", "status": "z" * 10_000}))
    )
    assert isinstance(result, Rejected)
    assert '"' + "z" * 39 + "..., not one of" in result.reason
    assert len(result.reason) < 200


def test_unmapped_segment_is_still_validated() -> None:
    """A malformed entry for a segment that is not mapped still makes the line malformed."""
    activation = Activation(segments={"s2": Segment("s2")})
    result = Exporter(activation).export(with_(segmentMembership=ups({"status": "realized"})))
    assert isinstance(result, Rejected)


# -- segment filtering -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("membership", "segments"),
    [
        pytest.param(..., None, id="no-membership-all-segments"),
        pytest.param({}, None, id="no-ups"),
        pytest.param({"ups": {}}, None, id="empty-ups"),
        pytest.param(
            ups({"lastQualificationTime": "t", "status": "realized"}),
            {"other": Segment("other")},
            id="none-mapped",
        ),
        pytest.param(
            ups({"lastQualificationTime": "t", "status": "exited"}), {}, id="empty-mapping"
        ),
    ],
)
def test_profiles_in_no_mapped_segment_are_filtered(
    membership: Any, segments: dict[str, Segment] | None
) -> None:
    """A valid profile with none of the mapped segments is FILTERED, not rejected."""
    result = Exporter(Activation(segments=segments)).export(with_(segmentMembership=membership))
    assert result is FILTERED
    assert repr(result) == "FILTERED"


def test_only_mapped_segments_are_exported() -> None:
    """Unmapped segment entries are dropped and mapped ones keep their status and time."""
    membership = {
        "ups": {
            "s1": {"lastQualificationTime": "t1", "status": "realized"},
            "s2": {"lastQualificationTime": "t2", "status": "exited"},
            "s3": {"lastQualificationTime": "t3", "status": "existing", "extra": 1},
        }
    }
    activation = Activation(segments={"s2": Segment("s2"), "s3": Segment("s3")})
    record, _ = export_ok(activation, {**RICH, "segmentMembership": membership})
    assert record["segmentMembership"] == {
        "ups": {
            "s2": {"lastQualificationTime": "t2", "status": "exited"},
            "s3": {"lastQualificationTime": "t3", "status": "existing"},
        }
    }


TIMESTAMPS = {
    "createdAt": 1,
    "updatedAt": 2,
    "mappingCreatedAt": 3,
    "mappingUpdatedAt": 4,
}


@pytest.mark.parametrize(
    ("names", "stamps", "extra"),
    [
        pytest.param(False, False, {}, id="neither"),
        pytest.param(True, False, {"name": "Gold"}, id="names"),
        pytest.param(False, True, TIMESTAMPS, id="timestamps"),
        pytest.param(True, True, {"name": "Gold", **TIMESTAMPS}, id="both"),
    ],
)
def test_segment_names_and_timestamps_decorate_when_asked(
    names: bool, stamps: bool, extra: dict[str, Any]
) -> None:
    """Names and the four timestamps from the config are added only when toggled on."""
    segment = Segment("s1", name="Gold", timestamps={**TIMESTAMPS, "ignored": 5})
    activation = Activation(
        segments={"s1": segment}, include_segment_names=names, include_segment_timestamps=stamps
    )
    record, _ = export_ok(activation, RICH)
    assert record["segmentMembership"]["ups"]["s1"] == {
        "lastQualificationTime": "2026-01-01T00:00:00Z",
        "status": "realized",
        **extra,
    }


def test_segment_without_name_gets_no_name_key() -> None:
    """A mapped segment with no configured name is not decorated with a null name."""
    activation = Activation(segments={"s1": Segment("s1")}, include_segment_names=True)
    record, _ = export_ok(activation, RICH)
    assert "name" not in record["segmentMembership"]["ups"]["s1"]


def test_decoration_does_not_leak_between_records() -> None:
    """Decorating one record does not alter the next record's segment entry or the config."""
    segment = Segment("s1", name="Gold")
    exporter = Exporter(Activation(segments={"s1": segment}, include_segment_names=True))
    first = exporter.export(line(RICH))
    second = exporter.export(line(RICH))
    assert isinstance(first, Exported)
    assert first == second
    assert segment.timestamps == {}


# -- attribute selection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        pytest.param(("person.email",), {"person": {"email": "a@example.com"}}, id="one-leaf"),
        pytest.param(("person", "person.email"), {"person": RICH["person"]}, id="parent-first"),
        pytest.param(("person.email", "person"), {"person": RICH["person"]}, id="parent-last"),
        pytest.param(
            ("person.name.lastName", "person.name"),
            {"person": {"name": RICH["person"]["name"]}},
            id="deep-overlap",
        ),
        pytest.param(
            ("person.name.lastName", "mobilePhone.number"),
            {"person": {"name": {"lastName": "Lovelace"}}, "mobilePhone": {"number": "+44 1"}},
            id="two-nested",
        ),
        pytest.param(("nowhere", "person.missing"), {}, id="missing-paths"),
        pytest.param(("person.email.domain",), {}, id="through-a-string"),
        pytest.param(("loyalty",), {"loyalty": {"tier": "gold"}}, id="whole-object"),
        pytest.param((), {}, id="nothing-selected"),
    ],
)
def test_attribute_selection(attributes: tuple[str, ...], expected: dict[str, Any]) -> None:
    """Dotted paths select nested values; a shorter overlapping path selects the whole subtree."""
    record, _ = export_ok(Activation(attributes=attributes), RICH)
    assert record == {
        **expected,
        "segmentMembership": RICH["segmentMembership"],
        "identityMap": RICH["identityMap"],
    }


def test_default_exports_every_attribute() -> None:
    """Without a selection every top-level attribute is exported, in input order."""
    record, _ = export_ok(Activation(), RICH)
    assert record == RICH
    assert list(record) == list(RICH)


def test_selecting_reserved_fields_does_not_bypass_segment_filter() -> None:
    """Naming segmentMembership as an attribute still exports only the mapped segments."""
    obj = copy.deepcopy(RICH)
    obj["segmentMembership"]["ups"]["s9"] = {"lastQualificationTime": "t", "status": "existing"}
    activation = Activation(
        segments={"s1": Segment("s1")}, attributes=("segmentMembership", "identityMap.ecid")
    )
    record, _ = export_ok(activation, obj)
    assert set(record["segmentMembership"]["ups"]) == {"s1"}
    assert record["identityMap"] == RICH["identityMap"]


def test_identities_are_always_all_exported() -> None:
    """Every namespace of identityMap is exported even when attributes select none of it."""
    obj = {**RICH, "identityMap": {"ecid": [{"id": "E1"}], "email": [{"id": "m"}, {"id": "n"}]}}
    record, _ = export_ok(Activation(attributes=("person.email",)), obj)
    assert record["identityMap"] == obj["identityMap"]


# -- partition key ---------------------------------------------------------------------------


def test_partition_key_from_configured_namespace() -> None:
    """The first id of the configured namespace is the key, wherever the namespace appears."""
    _, key = export_ok(Activation(partition_key_namespace="email_lc_sha256"), SEED)
    assert key == "655332b5fa2aea4498bf7a290cff017cb4"


def test_partition_key_falls_back_to_first_id_of_first_namespace() -> None:
    """Without an id in the configured namespace, the first id of the first namespace is used."""
    obj = {**RICH, "identityMap": {"email": [{"id": "m1"}, {"id": "m2"}], "crm": [{"id": "c"}]}}
    _, key = export_ok(Activation(), obj)
    assert key == "m1"


def test_partition_key_skips_empty_first_namespace() -> None:
    """An empty first namespace is passed over for the first id that exists."""
    obj = {**RICH, "identityMap": {"phone": [], "crm": [{"id": "c"}]}}
    _, key = export_ok(Activation(), obj)
    assert key == "c"


def test_same_profile_always_gets_the_same_key() -> None:
    """Two exporters with the same activation give the same key and bytes for one line."""
    first = Exporter(Activation()).export(line(SEED))
    second = Exporter(Activation()).export(line(SEED))
    assert first == second


@pytest.mark.parametrize("length", [1, MAX_PARTITION_KEY_CHARS - 1, MAX_PARTITION_KEY_CHARS])
def test_ids_up_to_256_characters_are_kept(length: int) -> None:
    """An id of at most 256 characters is the partition key as is."""
    ident = "é" * length  # two UTF-8 bytes per character: the limit counts characters
    _, key = export_ok(Activation(), {**RICH, "identityMap": {"ecid": [{"id": ident}]}})
    assert key == ident


def test_ids_over_256_characters_are_hashed_stably() -> None:
    """A 257-character id maps to a short, stable, collision-resistant key."""
    ident = "x" * (MAX_PARTITION_KEY_CHARS + 1)
    _, key = export_ok(Activation(), {**RICH, "identityMap": {"ecid": [{"id": ident}]}})
    assert key == "sha256:" + hashlib.sha256(ident.encode()).hexdigest()
    assert len(key) <= MAX_PARTITION_KEY_CHARS
    assert stable_partition_key(ident) == key
    assert stable_partition_key(ident + "y") != key


# -- record size limit -----------------------------------------------------------------------


def test_record_limit_exact_edge_counts_data_and_key_bytes() -> None:
    """data + UTF-8 key bytes equal to the limit is accepted; one byte less of limit rejects."""
    obj = {**RICH, "identityMap": {"ecid": [{"id": "ключ"}]}}  # 4 characters, 8 bytes
    probe = Exporter(Activation()).export(line(obj))
    assert isinstance(probe, Exported)
    size = len(probe.data) + len(probe.partition_key.encode())
    assert size == len(probe.data) + 8

    at_limit = Exporter(Activation(max_record_bytes=size)).export(line(obj))
    assert at_limit == probe

    over = Exporter(Activation(max_record_bytes=size - 1)).export(line(obj))
    assert isinstance(over, Rejected)
    assert f"is {size} bytes with its partition key" in over.reason
    assert f"record limit of {size - 1} bytes" in over.reason


def test_record_limit_applies_to_the_exported_record_not_the_input() -> None:
    """A large unselected attribute does not count against the limit."""
    obj = {**RICH, "blob": "b" * 5000}
    result = Exporter(Activation(attributes=("person.email",), max_record_bytes=1000)).export(
        line(obj)
    )
    assert isinstance(result, Exported)
    assert b"bbbb" not in result.data


# -- robustness ------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
profiles = st.fixed_dictionaries(
    {},
    optional={
        "identityMap": st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(["ecid", "email"]),
                st.lists(st.one_of(json_values, st.fixed_dictionaries({"id": json_values}))),
                max_size=2,
            ),
        ),
        "segmentMembership": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"ups": st.dictionaries(st.sampled_from(["s1", "s2"]), json_values, max_size=2)}
            ),
        ),
        "person": json_values,
    },
)


@settings(max_examples=200, deadline=None)
@given(profile=profiles, raw=st.binary(max_size=40))
def test_export_never_raises(profile: dict[str, Any], raw: bytes) -> None:
    """Arbitrary JSON objects and arbitrary bytes come back as a result, never an exception."""
    exporter = Exporter(Activation(segments={"s1": Segment("s1")}, attributes=("person.a",)))
    for line_bytes in (json.dumps(profile).encode(), raw):  # stdlib: any int size
        result = exporter.export(line_bytes)
        assert result is FILTERED or isinstance(result, Exported | Rejected)
        if isinstance(result, Exported):
            assert len(result.data) + len(result.partition_key.encode()) <= 1024 * 1024
