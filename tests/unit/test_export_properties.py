"""Export keeps values exactly: numbers as written, everything else as parsed, in every activation;
bad bytes and bad lines are rejected with their category."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.export import (
    FILTERED,
    IDENTITY,
    INVALID_JSON,
    INVALID_UTF8,
    NOT_OBJECT,
    REJECT_CATEGORIES,
    SEGMENTS,
    TOO_LARGE,
    Activation,
    Exported,
    Exporter,
    Rejected,
    Segment,
)


@dataclass(frozen=True)
class Num:
    """A JSON number kept as its text, so 1.0 and 1.00 differ and nothing is rounded."""

    text: str


def parse(data: bytes) -> Any:
    """Parse JSON keeping every number as its text."""
    return json.loads(data, parse_int=Num, parse_float=Num, parse_constant=Num)


@dataclass(frozen=True)
class Style:
    """How a line is written: separators, escaping, surrounding whitespace."""

    item_sep: str = ","
    key_sep: str = ":"
    ascii_only: bool = False
    around: tuple[str, str] = ("", "")


def dump(value: Any, style: Style) -> str:
    if isinstance(value, Num):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=style.ascii_only)
    if isinstance(value, list):
        return "[" + style.item_sep.join(dump(v, style) for v in value) + "]"
    items = (dump(k, style) + style.key_sep + dump(v, style) for k, v in value.items())
    return "{" + style.item_sep.join(items) + "}"


def line_of(profile: dict[str, Any], style: Style = Style()) -> bytes:
    return (style.around[0] + dump(profile, style) + style.around[1]).encode()


numbers = st.one_of(
    st.from_regex(r"-?(0|[1-9][0-9]{0,45})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.integers(min_value=-(2**200), max_value=2**200).map(str),
    st.sampled_from(
        [
            "18446744073709551616",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "0.10000000000000000000001",
            "1e400",
            "-1E-400",
            "-0",
            "1.0",
        ]
    ),
).map(Num)
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=16,
)
RESERVED = ("identityMap", "segmentMembership")
attribute_names = texts.filter(lambda k: k not in RESERVED)
styles = st.builds(
    Style,
    item_sep=st.sampled_from([",", ", ", ",\n  ", " , "]),
    key_sep=st.sampled_from([":", ": ", " : "]),
    ascii_only=st.booleans(),
    around=st.sampled_from([("", ""), ("  ", "\r"), ("\t", " ")]),
)
SEGMENT_IDS = ("s1", "s2", "s3")


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    """A valid profile: random attributes (reserved keys placed anywhere), valid identities
    with extra fields, and segment entries that sometimes carry fields the export drops."""
    attributes = draw(st.dictionaries(attribute_names, values, max_size=5))
    extra = draw(st.dictionaries(texts.filter(lambda k: k != "id"), values, max_size=2))
    identity = {"id": draw(texts.filter(bool)), **extra}
    others: st.SearchStrategy[dict[str, list[Any]]] = st.dictionaries(
        attribute_names.filter(lambda k: k != "ecid"), st.just([])
    )
    identity_map = {"ecid": [identity], **draw(others)}
    ups = {}
    for seg_id in draw(st.lists(st.sampled_from(SEGMENT_IDS), min_size=1, unique=True)):
        entry = {
            "lastQualificationTime": draw(texts),
            "status": draw(st.sampled_from(["realized", "existing", "exited"])),
        }
        entry.update(draw(st.dictionaries(st.sampled_from(["note", "score"]), values)))
        ups[seg_id] = entry
    items = list(attributes.items())
    for name, value in (("identityMap", identity_map), ("segmentMembership", {"ups": ups})):
        items.insert(draw(st.integers(0, len(items))), (name, value))
    return dict(items)


def exported_ups(profile: dict[str, Any], mapped: set[str] | None = None) -> dict[str, Any]:
    return {
        seg_id: {"lastQualificationTime": e["lastQualificationTime"], "status": e["status"]}
        for seg_id, e in profile["segmentMembership"]["ups"].items()
        if mapped is None or seg_id in mapped
    }


class Partial(dict[str, Any]):
    """An object built by selecting inside it (dropped if nothing was selected)."""


def select(obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Reference selection over parsed values: a path selects its value; a shorter path that
    covers a longer one selects the whole subtree; missing paths and non-objects select nothing."""
    out: dict[str, Any] = Partial()
    for path in sorted(paths, key=lambda p: p.count(".")):
        *parents, leaf = path.split(".")
        src, dst = obj, out
        for part in parents:
            if not isinstance(src.get(part), dict):
                break
            if part in dst and not isinstance(dst[part], Partial):  # already selected whole
                break
            src = src[part]
            dst = dst.setdefault(part, Partial())
        else:
            if leaf in src:
                dst[leaf] = src[leaf]
    return prune(out)


def prune(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop partial objects that ended up with nothing selected in them."""
    out = {}
    for key, value in obj.items():
        kept = prune(value) if isinstance(value, Partial) else value
        if kept or not isinstance(value, Partial):
            out[key] = kept
    return out


@st.composite
def selections(draw: st.DrawFn, profile: dict[str, Any]) -> list[str]:
    names = [k for k in profile if k not in RESERVED and "." not in k]
    paths: list[str] = []
    chosen: list[str] = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
    for name in chosen:
        value = profile[name]
        inner = [k for k in value if "." not in k] if isinstance(value, dict) else []
        deeper: bool = draw(st.booleans())
        if inner and deeper:
            paths.append(f"{name}.{draw(st.sampled_from(inner))}")
        else:
            paths.append(name)
    if draw(st.booleans()):
        paths.append("no.such.path")
    return paths


def export_parsed(activation: Activation, data: bytes) -> Any:
    result = Exporter(activation).export(data)
    assert isinstance(result, Exported), result
    return parse(result.data)


@settings(max_examples=150, deadline=None)
@given(profile=profiles(), style=styles)
def test_every_attribute_comes_out_as_written(profile: dict[str, Any], style: Style) -> None:
    """All attributes: the record is the input with the segment entries' extra fields dropped,
    numbers digit for digit, in the input's key order; mapping every segment gives the same."""
    data = line_of(profile, style)
    expected = {**parse(line_of(profile)), "segmentMembership": {"ups": exported_ups(profile)}}
    record = export_parsed(Activation(), data)
    assert record == expected
    assert list(record) == list(profile)
    every = {seg_id: Segment(seg_id) for seg_id in SEGMENT_IDS}
    assert export_parsed(Activation(segments=every), data) == expected


@settings(max_examples=150, deadline=None)
@given(data=st.data(), style=styles)
def test_selected_paths_come_out_as_written(data: st.DataObject, style: Style) -> None:
    """Selected dotted paths: exactly the selected values (numbers as written), then the
    mapped segments and the whole identityMap, in the seed format's order."""
    profile = data.draw(profiles())
    paths = data.draw(selections(profile))
    mapped = set(data.draw(st.lists(st.sampled_from(SEGMENT_IDS), min_size=1, unique=True)))
    activation = Activation(segments={s: Segment(s) for s in mapped}, attributes=tuple(paths))
    parsed = parse(line_of(profile))
    ups = exported_ups(profile, mapped)
    result = Exporter(activation).export(line_of(profile, style))
    if not ups:
        assert result is FILTERED
        return
    assert isinstance(result, Exported), result
    record = parse(result.data)
    attributes = {k: v for k, v in parsed.items() if k not in RESERVED}
    assert record == {
        **select(attributes, paths),
        "segmentMembership": {"ups": ups},
        "identityMap": parsed["identityMap"],
    }
    assert list(record)[-2:] == list(RESERVED[::-1])


BIG = (
    b'{"big":18446744073709551616,"neg":-9223372036854775809,'
    b'"long":123456789012345678901234567890,"dec":0.10000000000000000000001,"huge":1e400,'
    b'"deep":{"n":[1.000,-0,2E+308]},'
    b'"identityMap":{"ecid":[{"id":"E1","since":99999999999999999999999}]},'
    b'"segmentMembership":{"ups":{"s1":{"lastQualificationTime":"t","status":"realized"}}}}'
)


@pytest.mark.parametrize(
    "activation",
    [
        pytest.param(Activation(), id="all"),
        pytest.param(Activation(segments={"s1": Segment("s1")}), id="mapped"),
        pytest.param(
            Activation(segments={"s1": Segment("s1", name="S")}, include_segment_names=True),
            id="decorated",
        ),
        pytest.param(
            Activation(attributes=("big", "neg", "long", "dec", "huge", "deep.n")), id="selected"
        ),
    ],
)
def test_issue_numbers_reach_the_record_digit_for_digit(activation: Activation) -> None:
    """The numbers from the report keep their exact text in every activation."""
    result = Exporter(activation).export(BIG)
    assert isinstance(result, Exported), result
    for text in (
        b'"big":18446744073709551616',
        b'"neg":-9223372036854775809',
        b'"long":123456789012345678901234567890',
        b'"dec":0.10000000000000000000001',
        b'"huge":1e400',
        b'"n":[1.000,-0,2E+308]',
        b'"since":99999999999999999999999',
    ):
        assert text in result.data


@pytest.mark.parametrize(
    ("raw", "category", "reason"),
    [
        pytest.param(b'{"a":"\xff"}', INVALID_UTF8, "invalid byte 0xff at byte offset 6", id="ff"),
        pytest.param(
            b'{"a":1,"b":"\xed\xa0\x80"}', INVALID_UTF8, "0xed at byte offset 12", id="surrogate"
        ),
        pytest.param(b'{"a":"\xc0\xaf"}', INVALID_UTF8, "0xc0 at byte offset 6", id="overlong"),
        pytest.param(b'{"a":"\xe2\x82"}', INVALID_UTF8, "0xe2 at byte offset 6", id="cut-short"),
        pytest.param(b'{"a":"\\ud800"}', INVALID_JSON, "not valid JSON: ", id="lone-high-escape"),
        pytest.param(b'{"a":"\\udc00"}', INVALID_JSON, "not valid JSON: ", id="lone-low-escape"),
        pytest.param(b'{"a":1e400', INVALID_JSON, "not valid JSON: ", id="huge-then-cut"),
        pytest.param(b'{"a":01}', INVALID_JSON, "not valid JSON: ", id="leading-zero"),
        pytest.param(
            b'{"deep":' + b"[" * 3000 + b"]" * 3000 + b"}",
            INVALID_JSON,
            "not valid JSON: ",
            id="too-deep",
        ),
        pytest.param(
            b'{"a":' + b"[" * 1010 + b"]" * 1010 + b"}", INVALID_JSON, "not valid JSON: ", id="deep"
        ),
        pytest.param(b"[1]", NOT_OBJECT, "not a JSON object but a JSON array", id="array"),
        pytest.param(b"-5", NOT_OBJECT, "not a JSON object but a JSON number", id="number"),
        pytest.param(b'{"a":1}', IDENTITY, "has no identityMap", id="identity"),
        pytest.param(
            b'{"identityMap":{"ecid":[{"id":"E"}]},"segmentMembership":{"ups":{"s":{}}}}',
            SEGMENTS,
            "segmentMembership.ups.s.status is missing",
            id="segments",
        ),
    ],
)
def test_rejections_name_the_problem_and_its_category(
    raw: bytes, category: str, reason: str
) -> None:
    """Each rejection carries its category, and invalid UTF-8 is reported with its byte offset."""
    for activation in (Activation(), Activation(attributes=("a",))):
        result = Exporter(activation).export(raw)
        assert isinstance(result, Rejected), result
        assert result.category == category
        assert category in REJECT_CATEGORIES
        assert reason in result.reason, result.reason
        assert "surrogates not allowed" not in result.reason


def test_too_large_has_its_category() -> None:
    """A record over the size limit is rejected as too_large."""
    result = Exporter(Activation(max_record_bytes=50)).export(BIG)
    assert isinstance(result, Rejected)
    assert result.category == TOO_LARGE


def test_a_line_in_the_export_format_is_sent_as_it_is() -> None:
    """With every attribute and segment, a compact line's own bytes are the record."""
    stripped = Exporter(Activation()).export(b"  " + BIG + b"\r")
    assert isinstance(stripped, Exported)
    assert stripped.data == BIG
