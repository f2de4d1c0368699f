"""The compiled head reader (`streamer._head.head_key`) against its pure reference
(`export.head_key`, msgspec's reading of the line): where it answers, it answers the same key;
it answers None only where it is not sure; and the exporter uses it where it is built.

The lines are built as text, so that they can hold what a JSON library would never write:
fields met twice, escapes in keys, odd whitespace, and bytes cut, added or changed anywhere."""

from __future__ import annotations

import importlib
import json
import random
from collections.abc import Callable
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer import _compiled, export
from tests.unit.test_native import needs_compiler, run_pure

NAMESPACES = ("ecid", "email", "ECID", "", "ecid2", "e\u00e9", "ecid\\n")
STATUSES = ("realized", "existing", "exited", "Realized", "re\\u0061lized", "", "exit\\ned")


def head() -> ModuleType:
    return importlib.import_module("streamer._head")


def obj(members: list[tuple[str, str]], sep: str = ",") -> str:
    """A JSON object's text from (key text, value text) pairs, keys written as given."""
    return "{" + sep.join(f'"{k}":{v}' for k, v in members) + "}"


SEPS = st.sampled_from([",", ", ", ",\n", " ,\t", "\r\n,"])


def rarely(odd: st.SearchStrategy[str], usual: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`odd` one time in ten, else `usual`: a line holds many parts, and one odd part is enough
    to make the whole line one the reader is not sure of."""
    return st.sampled_from(range(10)).flatmap(lambda i: odd if i == 9 else usual)


PLAIN = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters='"\\'), max_size=12
)
ESCAPED = st.sampled_from(['\\"', "\\\\", "\\/", "\\n", "\\t", "\\u0041", "\\ud800", "\\x", "\\"])
STRING_BODY = rarely(st.lists(PLAIN | ESCAPED, min_size=1, max_size=3).map("".join), PLAIN)
STRING = STRING_BODY.map(lambda s: f'"{s}"')
ID = PLAIN.filter(bool).map(lambda s: f'"{s}"')
SCALARS = rarely(
    st.sampled_from(["01", "1.", ".5", "-", "nul", "+1", "1e", '"\x01"']),
    st.sampled_from(["1", "-0", "0.5", "1e400", "-12.5E+3", "true", "false", "null"]) | STRING,
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
        | st.lists(st.tuples(STRING_BODY, inner), max_size=3).map(obj)
    ),
    max_leaves=8,
)
VALID_STATUS = st.sampled_from(STATUSES[:3])
ODDS = st.sampled_from(range(20))
"""A part's shape: 19, 18, 17 are the odd ones (drawn as often as the rest, but shrunk last)."""


@st.composite
def identity(draw: st.DrawFn) -> str:
    members = [("id", draw(rarely(st.sampled_from(['""', "null", "7"]) | STRING, ID)))]
    for _ in range(draw(st.integers(0, 2))):
        key = draw(rarely(st.sampled_from(["id", "i\\u0064"]), st.sampled_from(["primary", "x"])))
        members.append((key, draw(VALUES)))
    if draw(ODDS) == 19:
        members.pop(0)
    return obj(draw(st.permutations(members)), draw(SEPS))


@st.composite
def identity_map(draw: st.DrawFn) -> str:
    if draw(ODDS) == 19:
        return draw(st.sampled_from(["null", "[]", "{}", '"x"']))
    members = []
    for _ in range(draw(st.integers(1, 4))):
        ids = draw(st.lists(identity(), max_size=3))
        if draw(ODDS) == 19:
            ids.append(draw(SCALARS))
        members.append((draw(st.sampled_from(NAMESPACES)), "[" + ",".join(ids) + "]"))
    return obj(members, draw(SEPS))


@st.composite
def qualification(draw: st.DrawFn) -> str:
    members = [
        ("lastQualificationTime", draw(STRING)),
        ("status", f'"{draw(rarely(st.sampled_from(STATUSES), VALID_STATUS))}"'),
    ]
    odd = draw(st.sampled_from(range(40)))
    if odd == 39:
        members.append(("status", '"exited"'))
    elif odd == 38:
        members.append(("name", '"x"'))
    elif odd == 37:
        members.pop(draw(st.integers(0, 1)))
    elif odd == 36:
        members[0] = ("lastQualificationTime", "5")
    return obj(draw(st.permutations(members)), draw(SEPS))


@st.composite
def membership(draw: st.DrawFn) -> str:
    shape = draw(ODDS)
    if shape == 19:
        return draw(st.sampled_from(["null", "{}", '{"ups":null}', '{"ups":{}}', "[]"]))
    ups = obj(
        [(draw(STRING_BODY), draw(qualification())) for _ in range(draw(st.integers(1, 4)))],
        draw(SEPS),
    )
    members = [("ups", ups)]
    if shape == 18:
        members.append(("ups", ups))
    elif shape == 17:
        members.append(("other", "1"))
    return obj(members)


@st.composite
def profile_line(draw: st.DrawFn) -> bytes:
    members = [("identityMap", draw(identity_map())), ("segmentMembership", draw(membership()))]
    members += draw(st.lists(st.tuples(STRING_BODY, VALUES), max_size=3))
    shape = draw(ODDS)
    if shape == 19:
        members.pop(draw(st.integers(0, 1)))
    elif shape == 18:
        members.append(("identityMap", draw(identity_map())))
    elif shape == 17:
        members.append(("identityM\\u0061p", draw(identity_map())))
    text = obj(draw(st.permutations(members)), draw(SEPS))
    around = draw(
        rarely(
            st.sampled_from(["x", "}", "\x0c", "\x00"]), st.sampled_from(["", " ", "\t", " \r\n"])
        )
    )
    if draw(st.booleans()):
        text = around + text
    else:
        text += around
    return text.encode()


def agrees(line: bytes, namespace: str) -> str | None:
    """The compiled answer, after checking it is None or the reference's."""
    compiled: str | None = head().head_key(line, namespace)
    if compiled is not None:
        assert compiled == export.head_key(line, namespace), (line, namespace)
    return compiled


@needs_compiler
@settings(max_examples=800, deadline=None)
@given(profile_line(), st.sampled_from(NAMESPACES))
def test_compiled_answer_is_the_reference_answer(line: bytes, namespace: str) -> None:
    agrees(line, namespace)


@needs_compiler
@settings(max_examples=400, deadline=None)
@given(profile_line(), st.sampled_from(NAMESPACES), st.data())
def test_compiled_answer_after_any_edit(line: bytes, namespace: str, data: st.DataObject) -> None:
    """Bytes cut, added or changed anywhere: still None or the reference's key."""
    edits = data.draw(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 2)), max_size=4))
    grammar = b'{}[]",:\\ \t\n0-.eE+tfnu\x01\x7f\xc3\xa9'
    body = bytearray(line)
    for at, kind in edits:
        i = at % (len(body) + 1)
        byte = grammar[at % len(grammar)]
        if kind == 0:
            body.insert(i, byte)
        elif kind == 1 and i < len(body):
            del body[i]
        elif i < len(body):
            body[i] = byte
    edited = bytes(body)
    try:
        edited.decode()
    except UnicodeDecodeError:
        return  # the exporter refuses it before asking (the reader's precondition)
    agrees(edited, namespace)


def plain_line(rng: random.Random, n: int) -> bytes:
    """A line in the export format with none of what makes the reader unsure (no \\u escape)."""
    ids = {
        ns: [{"id": f"{ns}-{n}-{i}", "primary": i == 0} for i in range(rng.randint(0, 2))]
        for ns in rng.sample(["ecid", "email", "phone", "é"], rng.randint(1, 3))
    }
    if not any(ids.values()):
        ids["crm"] = [{"id": "c\u00e9-" + str(n)}]
    ups = {
        f"seg-{j}": {
            "status": rng.choice(["realized", "existing", "exited"]),
            "lastQualificationTime": "2026-11-21T03:07:34Z",
        }
        for j in range(rng.randint(1, 5))
    }
    doc = {
        "_id": f"e{n}",
        "person": {"name": {"first": "A\nB"}, "scores": [1, -2.5e-3, None, True, 'x"y']},
        "identityMap": ids,
        "segmentMembership": {"ups": ups},
        "big": 12345678901234567890123,
    }
    items = list(doc.items())
    rng.shuffle(items)
    separators = rng.choice([(",", ":"), (", ", ": ")])
    return json.dumps(dict(items), separators=separators, ensure_ascii=False).encode()


@needs_compiler
def test_compiled_reader_is_sure_of_plain_lines() -> None:
    """Lines in the export format without escapes in what it reads: always answered, and as the
    reference answers (so the exporter's fast path is the one taken)."""
    rng = random.Random(12)
    for n in range(2_000):
        line = plain_line(rng, n)
        for namespace in ("ecid", "phone", "none"):
            answer = agrees(line, namespace)
            assert answer is not None, line
            assert answer == export.head_key(line, namespace)


@needs_compiler
def test_compiled_reader_after_random_edits_of_plain_lines() -> None:
    """Ten thousand lines of the export format with one to three bytes edited (seeded): every
    answer is the reference's, and edits the reading does not notice are still answered."""
    rng = random.Random(7)
    answered = 0
    grammar = b'{}[]",:\\ \t\n0123456789-.eE+truefalsn\x00\x1f\x7f'
    for n in range(10_000):
        body = bytearray(plain_line(rng, n))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(body))
            choice = rng.randrange(3)
            if choice == 0:
                body.insert(i, rng.choice(grammar))
            elif choice == 1:
                del body[i]
            else:
                body[i] = rng.choice(grammar)
        line = bytes(body)
        try:
            line.decode()
        except UnicodeDecodeError:
            continue
        answered += agrees(line, "ecid") is not None
    assert answered > 1_000  # e.g. an edited digit or letter inside a skipped value


def whole(*members: bytes) -> bytes:
    return b"{" + b",".join(members) + b"}"


def segment(qualification: bytes) -> bytes:
    return b'"segmentMembership":{"ups":{"s":{' + qualification + b"}}}"


IDS = b'"identityMap":{"ecid":[{"id":"k"}]}'
SEG = segment(b'"lastQualificationTime":"t","status":"realized"')
MANY = b",".join(b'"n%d":[]' % i for i in range(32))

# What the reader must not be sure of (the reference may still read a key from some of them).
UNSURE: list[tuple[str, bytes]] = [
    ("a \\u escape", whole(b'"a":"\\u0041"', IDS, SEG)),
    ("identityMap twice", whole(IDS, b'"identityMap":{"ecid":[{"id":"j"}]}', SEG)),
    ("a namespace twice", whole(b'"identityMap":{"ecid":[{"id":"k"}],"ecid":[{"id":"j"}]}', SEG)),
    ("an id twice", whole(b'"identityMap":{"ecid":[{"id":"k","id":"j"}]}', SEG)),
    ("an escaped id", whole(b'"identityMap":{"ecid":[{"id":"k\\n"}]}', SEG)),
    ("an escaped top-level key", whole(b'"x\\"":1', IDS, SEG)),
    (
        "a status twice",
        whole(IDS, segment(b'"lastQualificationTime":"t","status":"realized","status":"exited"')),
    ),
    ("too deep", whole(b'"a":' + b"[" * 70 + b"]" * 70, IDS, SEG)),
    ("33 namespaces", whole(b'"identityMap":{' + MANY + b',"ecid":[{"id":"k"}]}', SEG)),
]


@needs_compiler
@pytest.mark.parametrize(("why", "line"), UNSURE, ids=[why for why, _ in UNSURE])
def test_compiled_reader_is_unsure_where_the_last_field_wins_or_escapes_hide_names(
    why: str, line: bytes
) -> None:
    assert head().head_key(line, "ecid") is None, why


REFUSED = [
    whole(b'"identityMap":{"ecid":[{"id":""}]}', SEG),
    whole(b'"identityMap":{"ecid":[]}', SEG),
    whole(IDS, b'"segmentMembership":{"ups":{}}'),
    whole(IDS, segment(b'"lastQualificationTime":"t","status":"gone"')),
    whole(IDS, segment(b'"lastQualificationTime":"t"')),
    whole(IDS, segment(b'"lastQualificationTime":"t","status":"exited","name":"n"')),
    whole(IDS, SEG)[:-1] + b",}",
    whole(IDS, SEG) + b" x",
    whole(b'"a":01', IDS, SEG),
    whole(b'"a":"\x01"', IDS, SEG),
    whole(b'"a":[1,]', IDS, SEG),
    whole(SEG),
    whole(IDS),
    b"[" + whole(IDS, SEG) + b"]",
]


@needs_compiler
@pytest.mark.parametrize("line", REFUSED)
def test_lines_the_reference_refuses_are_not_answered(line: bytes) -> None:
    """Malformed JSON, no identity, no segment, another shape: None from both."""
    assert export.head_key(line, "ecid") is None
    assert head().head_key(line, "ecid") is None


def test_reference_picks_the_namespace_else_the_first_with_an_id() -> None:
    seg = b'"segmentMembership":{"ups":{"s":{"lastQualificationTime":"t","status":"exited"}}}'
    line = b'{"identityMap":{"email":[{"id":"m"}],"ecid":[{"id":"k"},{"id":"j"}]},' + seg + b"}"
    assert export.head_key(line, "ecid") == "k"
    assert export.head_key(line, "phone") == "m"
    empty_first = b'{"identityMap":{"ecid":[],"email":[{"id":"m"}]},' + seg + b"}"
    assert export.head_key(empty_first, "ecid") == "m"


@needs_compiler
def test_a_namespace_no_utf8_key_can_be_is_never_matched() -> None:
    """A namespace holding a lone surrogate (a non-UTF-8 argument read with surrogateescape)
    matches no key, so the first namespace's id is the key, as the reference reads it; it
    does not raise."""
    for namespace in ("\ud800", "ecid\udcff"):
        assert agrees(whole(IDS, SEG), namespace) == "k"
        assert export.head_key(whole(IDS, SEG), namespace) == "k"


@needs_compiler
def test_compiled_reader_refuses_what_is_not_bytes_and_str() -> None:
    reader: Callable[..., object] = head().head_key
    with pytest.raises(TypeError, match="bytes and a str"):
        reader("{}", "ecid")
    with pytest.raises(TypeError, match="bytes and a str"):
        reader(b"{}", b"ecid")


@needs_compiler
def test_exporter_uses_the_compiled_reader() -> None:
    if _compiled.pure_forced():
        pytest.skip("the pure path is forced in this run")
    assert export._head_key is head().head_key
    assert export.HEAD_COMPILED


def test_streamer_pure_uses_the_reference() -> None:
    script = "from streamer import export\nprint(export._head_key is export.head_key)\n"
    assert run_pure(script + "print(export.HEAD_COMPILED)\n") == b"True\nFalse\n"
