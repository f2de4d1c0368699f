"""Deterministic workload: seed-format profile events, one compact JSON object per line.

What it does: `generate` yields byte lines (each ending in a newline) shaped like the profile
events the streamer reads: `_id`, person attributes, `segmentMembership.ups` drawn from a fixed
pool of segment ids (`SEGMENT_IDS`), and an `identityMap` with `ecid` and `email_lc_sha256`.
Line `i` depends only on (seed, size, mix, i), so `generate(n, start=k)` continues any run.
`_id` is `e` plus the zero-padded line number and every ecid ends in the line number, so both
are unique per line (MD5 spreads such partition keys evenly over shards). Lines are
filled into string templates from pools built once per seed: no per-line dict or JSON encoding.

Size classes: "100" is the smallest event the exporter accepts (one segment with its
qualification time, one ecid: about 230 bytes, since those values alone are ~100 bytes);
"600" is a typical event (660-1030 bytes, about 750 on average: the 3-5 segments and 1-2 ids
per namespace it must carry do not fit in 600); "100k"
adds a ~100 KB `preferences.notes`. `mix=True` makes about 1 line in 1000 a 20-50 KB one.

What it leaves out: realism beyond the shape (names, e-mails and hashes are synthetic; the
email_lc_sha256 ids are not hashes of the e-mails), malformed lines, and reading or sending.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

SEGMENT_IDS: Final = (
    "7841ba61-23c1-4bb3-a495-00d3g5fe1e93",
    "59bd2fkd-3c48-4b18-bf56-4f5c5e6967ae",
    "0c1f5a2e-8d4b-4e7a-9b31-6f2d8c4a1e57",
    "1a9e3c7d-5b2f-4d8e-a610-3e7b9c2d4f81",
    "2b8d4e6f-7a1c-4f3b-8e92-5d1a7c3e9b04",
    "3c7e5f8a-9b2d-4a6c-b413-7e2c9d5f1a36",
    "4d6f7a9b-1c3e-4b5d-9c24-8f3d1e6a2b58",
    "5e5a8b1c-2d4f-4c6e-ad35-9a4e2f7b3c69",
    "6f4b9c2d-3e5a-4d7f-be46-1b5f3a8c4d7a",
    "8a3c1d4e-5f6b-4e8a-8f57-2c6a4b9d5e8b",
)
STATUSES: Final = ("realized", "existing", "exited")
SIZES: Final = ("100", "600", "100k")

_MASK64: Final = (1 << 64) - 1
_FIRST: Final = (
    "Anna", "Bram", "Chloe", "Daan", "Emma", "Finn", "Gwen", "Hugo", "Iris", "Jens", "Kim",
    "Lars", "Mila", "Noah", "Olga", "Piet", "Quinn", "Ruth", "Sem", "Tess", "Umar", "Vera",
    "Wim", "Xena", "Yara", "Zeno", "Ada", "Bo", "Cas", "Dirk", "Eva", "Fleur",
)  # fmt: skip
_LAST: Final = (
    "Jansen", "Visser", "Smit", "Bakker", "Mulder", "Bos", "Vos", "Peters", "Hendriks",
    "Dekker", "Brouwer", "Kok", "Vermeulen", "Willems", "Lee", "Garcia", "Novak", "Silva",
    "Rossi", "Muller", "Kowalski", "Nilsson", "Dubois", "Santos", "Tanaka", "Singh", "Okafor",
    "Cohen", "Murphy", "Larsen", "Horvat", "Popescu",
)  # fmt: skip
_DOMAINS: Final = ("example.com", "mail.test", "corp.example", "post.test")
_WORDS: Final = (
    "profile", "segment", "channel", "offer", "email", "mobile", "store", "loyalty", "basket",
    "return", "newsletter", "prefers", "evening", "weekend", "discount", "premium", "region",
    "visit", "browse", "cart", "order", "delivery", "pickup", "survey",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Pools:
    """Everything chosen at random once per seed; lines pick from it by a hash of their index.

    Entries are pre-joined template pieces, so a line is one short f-string of them.
    """

    salt: int
    ecid_heads: tuple[str, ...]  # 19 random digits; the line number makes the other 19
    sha_heads: tuple[str, ...]  # 48 random hex digits; the line number makes the other 16
    persons: tuple[tuple[str, str], ...]  # e-mail local part; the rest up to the phone digits
    segments: tuple[str, ...]  # segmentMembership (3-5 segments) up to the first ecid digits
    one_segment: tuple[str, ...]  # the same with one segment
    big_notes: tuple[str, ...]
    mid_notes: tuple[str, ...]


def _segment(rng: random.Random, seg_id: str) -> str:
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    hour, minute, second = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    when = f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"
    return f'"{seg_id}":{{"lastQualificationTime":"{when}","status":"{rng.choice(STATUSES)}"}}'


def _membership(segments: str) -> str:
    return f'"segmentMembership":{{"ups":{{{segments}}}}},"identityMap":{{"ecid":[{{"id":"'


def _notes(rng: random.Random, length: int) -> str:
    words: list[str] = []
    total = 0
    while total < length:
        word = rng.choice(_WORDS)
        words.append(word)
        total += len(word) + 1
    return " ".join(words)[:length]


_POOL_CACHE: dict[int, _Pools] = {}


def _pools(seed: int) -> _Pools:
    cached = _POOL_CACHE.get(seed)
    if cached is not None:
        return cached
    rng = random.Random(seed)
    persons = []
    for _ in range(256):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        tail = (
            f'@{rng.choice(_DOMAINS)}","name":{{"firstName":"{first}","lastName":"{last}"}}}},'
            f'"mobilePhone":{{"number":"+316'
        )
        persons.append((f"{first.lower()}.{last.lower()}", tail))
    segments = []
    for _ in range(256):
        chosen = rng.sample(SEGMENT_IDS, rng.choice((3, 3, 3, 3, 3, 3, 4, 4, 4, 5)))
        segments.append(_membership(",".join(_segment(rng, seg_id) for seg_id in chosen)))
    pools = _Pools(
        salt=rng.getrandbits(64),
        ecid_heads=tuple(f"{rng.randrange(10**19):019d}" for _ in range(256)),
        sha_heads=tuple(f"{rng.getrandbits(192):048x}" for _ in range(256)),
        persons=tuple(persons),
        segments=tuple(segments),
        one_segment=tuple(_membership(_segment(rng, rng.choice(SEGMENT_IDS))) for _ in range(256)),
        big_notes=tuple(
            f'"preferences":{{"notes":"{_notes(rng, 99_300 + rng.randrange(400))}"}},'
            for _ in range(4)
        ),
        mid_notes=tuple(
            f'"preferences":{{"notes":"{_notes(rng, rng.randrange(20_000, 49_000))}"}},'
            for _ in range(16)
        ),
    )
    _POOL_CACHE[seed] = pools
    return pools


def generate(
    n: int, *, seed: int = 0, size: str = "600", start: int = 0, mix: bool = False
) -> Iterator[bytes]:
    """Yield lines `start` .. `start + n - 1` of the workload for `seed`, `size` and `mix`."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")
    if n < 0 or start < 0:
        raise ValueError("n and start must not be negative")
    p = _pools(seed)
    small, big = size == "100", size == "100k"
    salt, persons, segments, ecid_heads, sha_heads = (
        p.salt, p.persons, p.one_segment if small else p.segments, p.ecid_heads, p.sha_heads
    )  # fmt: skip
    for i in range(start, start + n):
        h = ((i ^ salt) * 0x9E3779B97F4A7C15) & _MASK64
        h ^= h >> 29
        head = h & 255
        extra = ""
        if big:
            extra = p.big_notes[(h >> 16) & 3]
        elif mix and ((h * 0xBF58476D1CE4E5B9) >> 30) % 1000 == 0:
            extra = p.mid_notes[(h >> 16) & 15]
        if small:
            yield (
                f'{{"_id":"e{i:09d}",{extra}{segments[(h >> 40) & 255]}'
                f'{ecid_heads[head]}{i:019d}"}}]}}}}\n'
            ).encode()
            continue
        ecid2 = sha2 = ""
        if (h >> 48) % 5 == 0:  # a fifth of the profiles carry a second ecid
            other = (head + 1 + ((h >> 16) & 127)) & 255  # never the first head
            ecid2 = f',{{"id":"{ecid_heads[other]}{i:019d}"}}'
        if (h >> 52) % 5 == 0:  # and a fifth a second hashed e-mail
            other = (head + 1 + ((h >> 24) & 127)) & 255
            sha2 = f',{{"id":"{sha_heads[other]}{i:016x}"}}'
        local, tail = persons[(h >> 8) & 255]
        yield (
            f'{{"_id":"e{i:09d}","person":{{"email":"{local}{i}{tail}{(h >> 14) % 100_000_000:08d}'
            f'"}},{extra}{segments[(h >> 40) & 255]}{ecid_heads[head]}{i:019d}"}}{ecid2}],'
            f'"email_lc_sha256":[{{"id":"{sha_heads[head]}{i:016x}"}}{sha2}]}}}}\n'
        ).encode()


def main(argv: list[str] | None = None) -> int:
    """Write the workload to stdout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workload", description=__doc__)
    parser.add_argument("-n", type=int, default=100_000, help="number of lines")
    parser.add_argument("--size", choices=SIZES, default="600")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="first line number")
    parser.add_argument("--mix", action="store_true", help="about 1 in 1000 lines is 20-50 KB")
    args = parser.parse_args(argv)
    out = sys.stdout.buffer
    chunk: list[bytes] = []
    for line in generate(args.n, seed=args.seed, size=args.size, start=args.start, mix=args.mix):
        chunk.append(line)
        if len(chunk) >= 4096:
            out.write(b"".join(chunk))
            chunk.clear()
    out.write(b"".join(chunk))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
