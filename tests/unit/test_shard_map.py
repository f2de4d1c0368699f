"""Shard map: building from ListShards, coverage checks, and MD5-based shard prediction."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from streamer.limits import HASH_KEY_MAX
from streamer.record import Entry, hash_key
from streamer.shard_map import Shard, ShardMap, ShardMapError
from tests.support.shards import even_map, even_shards

QUARTER = 1 << 126


def raw_shard(shard_id: str, start: int, end: int, *, closed: bool = False) -> dict[str, Any]:
    """A ListShards `Shards` entry as the API returns it (hash keys as decimal strings)."""
    seq: dict[str, str] = {"StartingSequenceNumber": "1"}
    if closed:
        seq["EndingSequenceNumber"] = "2"
    return {
        "ShardId": shard_id,
        "HashKeyRange": {"StartingHashKey": str(start), "EndingHashKey": str(end)},
        "SequenceNumberRange": seq,
    }


def test_from_listing_keeps_only_open_shards() -> None:
    """A closed parent shard is dropped and its two open children make up the map."""
    half = 1 << 127
    listing = [
        raw_shard("parent", 0, HASH_KEY_MAX, closed=True),
        raw_shard("child-b", half, HASH_KEY_MAX),
        raw_shard("child-a", 0, half - 1),
    ]
    shard_map = ShardMap.from_listing(listing, loaded_at=7.0)
    assert shard_map.shard_ids == ("child-a", "child-b")
    assert "parent" not in shard_map
    assert len(shard_map) == 2
    assert shard_map.loaded_at == 7.0
    assert shard_map.shards[0] == Shard("child-a", 0, half - 1)


def test_from_listing_sorts_by_ending_hash_key() -> None:
    """Shards listed out of order are sorted by their ranges, not by listing position."""
    listing = [raw_shard(s.shard_id, s.start, s.end) for s in reversed(even_shards(4))]
    shard_map = ShardMap.from_listing(listing, loaded_at=0.0)
    assert [s.end for s in shard_map.shards] == sorted(s.end for s in shard_map.shards)
    assert shard_map.shard_ids[0] == "shardId-000000000000"


@pytest.mark.parametrize(
    ("shards", "message"),
    [
        pytest.param([], "no open shards", id="empty"),
        pytest.param(
            [Shard("a", 0, 99), Shard("b", 101, HASH_KEY_MAX)], "gap or overlap at 100", id="gap"
        ),
        pytest.param(
            [Shard("a", 0, 100), Shard("b", 100, HASH_KEY_MAX)],
            "gap or overlap at 101",
            id="overlap",
        ),
        pytest.param([Shard("a", 1, HASH_KEY_MAX)], "gap or overlap at 0", id="not-from-zero"),
        pytest.param([Shard("a", 0, HASH_KEY_MAX - 1)], "up to 2^128-1", id="short-of-max"),
    ],
)
def test_rejects_listings_that_do_not_cover_the_key_space(
    shards: list[Shard], message: str
) -> None:
    """Gaps, overlaps and an uncovered end of the key space are refused with a reason."""
    with pytest.raises(ShardMapError, match=message.replace("^", r"\^")):
        ShardMap(shards, loaded_at=0.0)


def test_only_closed_shards_is_rejected() -> None:
    """A listing whose shards are all closed has no shard to write to."""
    listing = [raw_shard("old", 0, HASH_KEY_MAX, closed=True)]
    with pytest.raises(ShardMapError, match="no open shards"):
        ShardMap.from_listing(listing, loaded_at=0.0)


@pytest.mark.parametrize(
    ("key", "index"),
    [
        pytest.param(0, 0, id="zero"),
        pytest.param(QUARTER - 1, 0, id="end-of-first"),
        pytest.param(QUARTER, 1, id="start-of-second"),
        pytest.param(2 * QUARTER - 1, 1, id="end-of-second"),
        pytest.param(2 * QUARTER, 2, id="start-of-third"),
        pytest.param(3 * QUARTER, 3, id="start-of-last"),
        pytest.param(HASH_KEY_MAX, 3, id="max"),
    ],
)
def test_bisect_edges(key: int, index: int) -> None:
    """A hash key equal to a shard's start or end lands in that shard, incl. 0 and 2^128-1."""
    shard_map = even_map(4)
    assert shard_map.shard_for(key) == shard_map.shard_ids[index]


@pytest.mark.parametrize(
    ("partition_key", "md5_hex", "index"),
    [
        # MD5 test suite values from RFC 1321, section A.5.
        pytest.param("", "d41d8cd98f00b204e9800998ecf8427e", 3, id="empty"),
        pytest.param("a", "0cc175b9c0f1b6a831c399e269772661", 0, id="a"),
        pytest.param("abc", "900150983cd24fb0d6963f7d28e17f72", 2, id="abc"),
        pytest.param("1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a", 1, id="eighty-digits"),
    ],
)
def test_four_shard_even_split_agrees_with_known_md5(
    partition_key: str, md5_hex: str, index: int
) -> None:
    """Routing reads MD5 as a big-endian 128-bit integer, matching published digests."""
    assert hashlib.md5(partition_key.encode()).hexdigest() == md5_hex
    assert hash_key(partition_key) == int(md5_hex, 16)
    assert even_map(4).shard_for(hash_key(partition_key)) == f"shardId-{index:012d}"


def test_routing_matches_hashlib_for_many_keys() -> None:
    """For 2000 keys the predicted shard is the top two bits of hashlib's MD5 digest."""
    shard_map = even_map(4)
    seen = set()
    for i in range(2000):
        key = f"ecid-{i}-ключ"
        digest = hashlib.md5(key.encode("utf-8")).digest()
        expected = digest[0] >> 6
        assert shard_map.shard_for(hash_key(key)) == shard_map.shard_ids[expected]
        seen.add(expected)
    assert seen == {0, 1, 2, 3}


def test_entry_hash_key_agrees_with_hash_key() -> None:
    """An entry computes the same routing key as `hash_key`, over UTF-8 bytes."""
    entry = Entry(b"{}", "ümlaut-😀", source="t", line_no=1, now=0.0)
    assert entry.hash_key == hash_key("ümlaut-😀")
    assert entry.size == 2 + len("ümlaut-😀".encode())


def test_single_shard_takes_every_key() -> None:
    """A one-shard stream routes both ends of the key space to its only shard."""
    shard_map = even_map(1)
    assert shard_map.shard_for(0) == shard_map.shard_for(HASH_KEY_MAX) == "shardId-000000000000"
