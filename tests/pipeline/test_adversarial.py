"""Property tests over malformed and adversarial input lines, through the real ingest loop and
pipeline (fake client): every line ends exactly once as delivered, filtered or dead-lettered
with a reason naming its line; nothing crashes; valid lines around bad ones all arrive."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.limits import MAX_PARTITION_KEY_CHARS
from tests.support.events import SEGMENT, dead_letters, profile
from tests.support.fakes import FakeKinesis
from tests.support.inprocess import run_daemon
from tests.support.inprocess import settings as make_settings

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
odd_ids = st.one_of(
    st.text(min_size=0, max_size=3),
    st.text(
        alphabet=st.characters(codec="utf-8"),
        min_size=MAX_PARTITION_KEY_CHARS - 1,
        max_size=MAX_PARTITION_KEY_CHARS + 2,
    ),
    json_values,
)


@st.composite
def mutated_profiles(draw: st.DrawFn) -> bytes:
    """A profile with one part replaced by something odd."""
    event: dict[str, Any] = {
        "person": {"email": draw(st.text(max_size=20))},
        "segmentMembership": {
            "ups": {
                SEGMENT: {"lastQualificationTime": "2026-01-01T00:00:00Z", "status": "realized"}
            }
        },
        "identityMap": {"ecid": [{"id": "x"}]},
    }
    target = draw(st.sampled_from(["identityMap", "ids", "id", "ups", "entry", "status", "extra"]))
    value = draw(json_values)
    if target == "identityMap":
        event["identityMap"] = value
    elif target == "ids":
        event["identityMap"] = {draw(st.text(max_size=8)): value}
    elif target == "id":
        event["identityMap"] = {"ecid": [{"id": draw(odd_ids)}]}
    elif target == "ups":
        event["segmentMembership"] = {"ups": value}
    elif target == "entry":
        event["segmentMembership"]["ups"][SEGMENT] = value
    elif target == "status":
        event["segmentMembership"]["ups"][SEGMENT]["status"] = value
    else:
        event[draw(st.text(max_size=10))] = value
    return orjson.dumps(event)


adversarial_lines = st.one_of(
    st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" ")),
    json_values.map(orjson.dumps),
    mutated_profiles(),
    st.integers(min_value=1, max_value=3000).map(lambda d: b"[" * d + b"]" * d),
    st.text(max_size=50).map(lambda t: ('{"k": "' + t).encode("utf-8", "surrogatepass")),
    st.just(b'{"identityMap": {"ecid": [{"id": "\\ud800"}]}}'),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(adversarial_lines, min_size=1, max_size=12))
def test_adversarial_lines_never_disturb_valid_ones(bad: list[bytes]) -> None:
    """Bad lines interleaved with valid ones: each ends once; every valid line is delivered."""
    bad = [b.replace(b"\n", b" ").replace(b"\r", b" ") for b in bad]
    lines: list[bytes] = []
    valid_keys = set()
    for i, line in enumerate(bad):
        lines.append(profile(10_000 + i))
        valid_keys.add(f"ecid-{10_000 + i}")
        lines.append(line)
    blank = sum(1 for line in lines if not line.strip())
    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeKinesis(shard_count=2)
        cfg = make_settings(Path(tmp), ordering="relaxed")
        stats = asyncio.run(run_daemon(fake, cfg, lines))
        dead = dead_letters(cfg.dead_letter)
    accepted_keys = [key for _, key, _ in fake.accepted]
    assert valid_keys <= set(accepted_keys)
    assert len(accepted_keys) == stats.delivered
    assert stats.received == len(lines) - blank
    assert stats.delivered + stats.filtered + stats.rejected == stats.received
    assert stats.rejected == len(dead)
    for entry in dead:
        assert entry["kind"] == "input"
        assert entry["reason"].startswith(f"line {entry['line_no']} of test: ")
        assert len(entry["reason"]) > len(f"line {entry['line_no']} of test: ") + 5
        assert lines[entry["line_no"] - 1].decode("utf-8", "replace")[:100] == entry["line"][:100]


def test_huge_record_is_dead_lettered_and_neighbours_arrive(tmp_path: Path) -> None:
    """A record just over the record limit is dead-lettered with its size; neighbours arrive."""
    fake = FakeKinesis(shard_count=1)
    cfg = make_settings(tmp_path, max_record_bytes=10_000)
    lines = [profile(1), profile(2, pad=10_000), profile(3)]
    stats = asyncio.run(run_daemon(fake, cfg, lines))
    (dead,) = dead_letters(cfg.dead_letter)
    assert stats.delivered == 2
    assert dead["line_no"] == 2
    assert "over the stream's record limit of 10000 bytes" in dead["reason"]


def test_overlong_line_is_dead_lettered_and_the_next_line_arrives(tmp_path: Path) -> None:
    """A line over the line limit is cut, dead-lettered once, and the following line is read."""
    fake = FakeKinesis(shard_count=1)
    cfg = make_settings(tmp_path, max_line_bytes=5_000)
    lines = [profile(1), b"x" * 200_000, profile(3)]
    stats = asyncio.run(run_daemon(fake, cfg, lines))
    (dead,) = dead_letters(cfg.dead_letter)
    assert stats.delivered == 2
    assert dead["line_no"] == 2
    assert dead["line_bytes"] >= 200_000
    assert "maximum line length of 5000 bytes" in dead["reason"]
