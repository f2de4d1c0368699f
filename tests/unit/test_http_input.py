"""The HTTP input's pure parts: address, media check, body decoder (gzip, bombs), the tally of a
request, the token file and the rules on where inputs may listen."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from streamer import cli, config
from streamer.errors import ConfigError
from streamer.ingest import BLANK_LINE
from streamer.record import Outcome, Settled, Ticket
from streamer.sources.address import InputSpec
from streamer.sources.exposure import exposure_problem, is_loopback
from streamer.sources.http import line_count
from streamer.sources.http_auth import TokenFile
from streamer.sources.http_request import (
    BadBody,
    BodyDecoder,
    BodyTooLarge,
    check_media,
    parse_http,
)
from streamer.sources.http_tally import Tally
from streamer.sources.lines import LineSplitter
from streamer.sources.registry import parse_input


def test_parse_http_inputs() -> None:
    """http:// and https:// parse like tcp://, with 127.0.0.1 as the default host."""
    assert parse_input("http://:8080") == InputSpec("http", "127.0.0.1", 8080)
    assert parse_input("https://0.0.0.0:443/") == InputSpec("https", "0.0.0.0", 443)
    assert str(parse_http("http://[::1]:9", "[::1]:9")) == "http://[::1]:9"
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_input("http://example")


@pytest.mark.parametrize(
    ("content_type", "encoding", "problem", "gzipped"),
    [
        (None, None, None, False),
        ("application/x-ndjson", None, None, False),
        ("application/json; charset=utf-8", "identity", None, False),
        ("Application/X-NDJSON", "gzip", None, True),
        ("", "x-gzip", None, True),
        ("text/plain", None, "Content-Type 'text/plain' is not taken", False),
        ("application/x-www-form-urlencoded", None, "is not taken", False),
        (None, "br", "Content-Encoding 'br' is not taken", False),
    ],
)
def test_media(content_type: str | None, encoding: str | None, problem: str, gzipped: bool) -> None:
    """NDJSON, JSON or no type, identity or gzip are taken; anything else is named."""
    media = check_media(content_type, encoding)
    if problem is None:
        assert media.problem is None
    else:
        assert media.problem is not None
        assert problem in media.problem
    assert media.gzipped is gzipped


def decode(chunks: list[bytes], limit: int, *, gzipped: bool) -> bytes:
    decoder = BodyDecoder(limit, gzipped=gzipped)
    for chunk in chunks:
        decoder.feed(chunk)
    return decoder.finish()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_plain_body_up_to_the_limit() -> None:
    """A body of exactly the limit passes; one byte more is too large."""
    assert decode(split(b"a" * 100, 7), 100, gzipped=False) == b"a" * 100
    with pytest.raises(BodyTooLarge, match="over the limit of 100 bytes"):
        decode(split(b"a" * 101, 7), 100, gzipped=False)


def test_gzip_body_in_small_chunks_and_concatenated_members() -> None:
    """A gzip body fed a few bytes at a time decodes whole, also two members one after another."""
    data = b"".join(b'{"n":%d}\n' % i for i in range(2000))
    packed = gzip.compress(data[:5000]) + gzip.compress(data[5000:])
    assert decode(split(packed, 13), len(data), gzipped=True) == data


def test_gzip_bomb_is_cut_off_at_the_limit() -> None:
    """1 GiB of zeros compressed to about 1 MiB is refused having decoded at most the limit."""
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    packed = bomb.compress(b"\0" * (64 * 1024 * 1024)) + bomb.flush()
    assert len(packed) < 100_000
    decoder = BodyDecoder(1024 * 1024, gzipped=True)
    with pytest.raises(BodyTooLarge, match="decompresses to over the limit"):
        decoder.feed(packed)
    assert decoder._size <= 1024 * 1024 + 1


@pytest.mark.parametrize(
    ("packed", "message"),
    [
        (b"not gzip at all", "not valid gzip"),
        (gzip.compress(b"x" * 1000)[:-12], "ends early"),
        (gzip.compress(b"x") + b"junk", "not valid gzip"),
    ],
)
def test_broken_gzip(packed: bytes, message: str) -> None:
    """Garbage, a cut stream and trailing junk are each a `BadBody` naming the problem."""
    with pytest.raises(BadBody, match=message):
        decode([packed], 1 << 20, gzipped=True)


def test_tally_answer_counts_and_error_list_bound() -> None:
    """Blank lines count as neither accepted nor rejected; errors are listed up to 100;
    a delivered answer has every outcome, unknown ones by name, and what is still unsettled."""
    tally = Tally()
    tally.settle(Settled(Outcome.FILTERED, tickets=[Ticket("r", 1)], reason=BLANK_LINE))
    for n in range(2, 152):
        tally.settle(Settled(Outcome.REJECTED, tickets=[Ticket("r", n)], reason=f"bad {n}"))
    tally.settle(Settled(Outcome.FILTERED, tickets=[Ticket("r", 152)], reason="not mapped"))
    tally.settle(Settled(Outcome.DELIVERED, tickets=[Ticket("r", 153), Ticket("r", 154)]))
    tally.accepted(156)
    answer = tally.answer(156)
    assert answer["accepted"] == 156 - 1 - 150
    assert answer["rejected"] == 150
    assert len(answer["errors"]) == 100
    assert answer["errors"][0] == {"line": 2, "reason": "bad 2"}
    assert "delivered" not in answer
    waited = tally.answer(156, delivered=True)
    assert waited["delivered"] == 2
    assert waited["dead_lettered"] == 0
    assert waited["filtered"] == 1
    assert waited["unsettled"] == 2


def test_tally_accepts_only_forward() -> None:
    """`through` never goes back."""
    tally = Tally()
    tally.accepted(5)
    tally.accepted(3)
    assert tally.through == 5


def write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_suffix(".new")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def test_token_file_checks_and_rotation(tmp_path: Path) -> None:
    """Only `Bearer <token>` passes; a replaced file's new token replaces the old one; a removed
    file refuses everything."""
    path = tmp_path / "token"
    write(path, "s3cret\n")
    token = TokenFile(path)
    assert token.authorized("Bearer s3cret")
    assert token.authorized("bearer s3cret")
    assert not token.authorized(None)
    assert not token.authorized("Bearer s3cre")
    assert not token.authorized("Basic s3cret")
    write(path, "rotated")
    assert token.authorized("Bearer rotated")
    assert not token.authorized("Bearer s3cret")
    path.unlink()
    with capture_logs() as logs:
        assert not token.authorized("Bearer rotated")
    assert any("refusing every request" in e["event"] for e in logs)


def test_token_file_missing_empty_or_world_readable(tmp_path: Path) -> None:
    """A missing or empty file is a config error; a world-readable one is warned about."""
    with pytest.raises(ConfigError, match="cannot be read"):
        TokenFile(tmp_path / "nope")
    empty = tmp_path / "empty"
    write(empty, "  \n")
    with pytest.raises(ConfigError, match="is empty"):
        TokenFile(empty)
    loose = tmp_path / "loose"
    write(loose, "t", 0o644)
    with capture_logs() as logs:
        TokenFile(loose)
    assert any("readable by every user" in e["event"] for e in logs)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("example.com", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    """Loopback addresses and localhost only; any other name counts as remote."""
    assert is_loopback(host) is loopback


def test_exposure_rules() -> None:
    """Remote tcp:// always needs the opt-in; remote http:// only without a token."""
    tcp = parse_input("tcp://0.0.0.0:5555")
    http = parse_input("http://10.1.2.3:8080")
    local = [parse_input("tcp://127.0.0.1:1"), parse_input("http://:2"), parse_input("stdin")]
    assert exposure_problem(local, has_token=False, allowed=False) is None
    problem = exposure_problem([tcp], has_token=True, allowed=False)
    assert problem is not None
    assert "no authentication" in problem
    assert "allow_remote_unauthenticated" in problem
    assert exposure_problem([http], has_token=True, allowed=False) is None
    assert exposure_problem([http], has_token=False, allowed=False) is not None
    assert exposure_problem([tcp, http], has_token=False, allowed=True) is None


@pytest.mark.parametrize(
    ("inputs", "extra", "message"),
    [
        (["https://:8443"], {}, "needs tls_cert_file and tls_key_file"),
        (["https://:8443"], {"tls_cert_file": "c.pem"}, "must be given together"),
        (["http://:8080"], {"tls_cert_file": "c", "tls_key_file": "k"}, "no input is https"),
        (["tcp://0.0.0.0:5555"], {}, "no authentication"),
        (["http://0.0.0.0:8080"], {}, "set http_token_file"),
    ],
)
def test_config_refuses_broken_input_rules(
    inputs: list[str], extra: dict[str, str], message: str
) -> None:
    """Each rule is a `ConfigError` (exit 2) with one sentence."""
    with pytest.raises(ConfigError, match=message) as info:
        config.build({"stream": "s", "region": "eu-west-1", "inputs": inputs, **extra})
    assert info.value.exit_code == 2


def test_config_takes_remote_inputs_when_allowed_or_authenticated() -> None:
    """A token makes a remote http:// input acceptable; the opt-in makes tcp:// acceptable."""
    base = {"stream": "s", "region": "eu-west-1"}
    s = config.build({**base, "inputs": ["http://0.0.0.0:8080"], "http_token_file": "/t"})
    assert config.http_settings(s).token_file == Path("/t")
    s = config.build({**base, "inputs": ["tcp://0.0.0.0:1"], "allow_remote_unauthenticated": True})
    assert s.allow_remote_unauthenticated


def test_cli_refuses_a_remote_unauthenticated_input(capsys: pytest.CaptureFixture[str]) -> None:
    """`streamer run` with a remote tcp:// input exits 2 with one sentence, before any AWS call."""
    code = cli.main(
        ["run", "--stream", "s", "--region", "eu-west-1", "--input", "tcp://0.0.0.0:5555"]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("streamer: input tcp://0.0.0.0:5555 would accept lines")
    assert err.count("\n") == 1


def test_http_keys_in_the_daemon_section(tmp_path: Path) -> None:
    """The HTTP keys belong in [daemon] and reach the input's settings, with the wait for
    delivery bounded by the record budget, the request timeout and the drain deadline."""
    path = tmp_path / "streamer.toml"
    path.write_text(
        'stream = "s"\nregion = "eu-west-1"\n[producer]\nrecord_budget_s = 5\n'
        "request_timeout_s = 2\n[daemon]\n"
        'inputs = ["https://0.0.0.0:8443"]\nmax_body_bytes = 1024\nhttp_wait_s = 0.5\n'
        'http_token_file = "/etc/t"\ntls_cert_file = "c.pem"\ntls_key_file = "k.pem"\n'
        "drain_deadline_s = 3\n"
    )
    http = config.http_settings(config.load(path, {}))
    assert (http.max_body_bytes, http.wait_s, http.settle_wait_s) == (1024, 0.5, 10.0)
    assert (http.token_file, http.tls_cert_file, http.tls_key_file) == (
        Path("/etc/t"),
        Path("c.pem"),
        Path("k.pem"),
    )
    path.write_text('stream = "s"\nregion = "r"\nmax_body_bytes = 5\n')
    with pytest.raises(ConfigError, match=r"max_body_bytes belongs in \[daemon\]"):
        config.load(path, {})


@given(
    st.lists(st.sampled_from([b"", b" ", b"{}", b"x" * 40, b"y" * 5]), max_size=30),
    st.booleans(),
    st.integers(1, 64),
)
def test_line_count_is_the_intakes_count(parts: list[bytes], terminated: bool, chunk: int) -> None:
    """The line count an answer waits for equals the lines the intake numbers, blank and overlong
    lines (over a 16-byte limit here) and an unterminated last line included."""
    data = b"\n".join(parts) + (b"\n" if terminated and parts else b"")
    splitter = LineSplitter(16)
    numbered = sum(len(splitter.feed(data[i : i + chunk])) for i in range(0, len(data), chunk))
    numbered += len(splitter.finish())
    assert line_count(data) == numbered
