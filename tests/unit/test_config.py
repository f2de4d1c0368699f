"""Configuration: TOML sections enforced, flags over the file, one clear message per validation
error naming the key (or the flag) as the user typed it, and the settings table behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streamer import cli, config, limits
from streamer.config import Settings, build, load
from streamer.errors import ConfigError, ExitCode
from streamer.export import Segment
from streamer.options import OPTIONS

FULL_TOML = """
name = "Kinesis prod"
description = "profile exports"
stream = "profile-exports"
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:4567"
access_key_id = "AKIDEXAMPLEKEY"
secret_access_key = "top-secret-value"
session_token = "session-token-value"
attributes = ["person.email", "person.name.lastName"]
include_segment_names = true
include_segment_timestamps = true
partition_key = "email_lc_sha256"

[[segments]]
id = "seg-1"
name = "Gold"
createdAt = 1700000000
mappingUpdatedAt = 1700000500

[[segments]]
id = "seg-2"

[producer]
linger_ms = 20
writers = 8
max_request_bytes = 10485760
max_record_bytes = 2097152
buffer_records = 1000
record_budget_s = 12.5
max_attempts = 4
transport = "botocore"

[daemon]
dead_letter = "out/dead.ndjson"
drain_deadline_s = 5
log_level = "debug"
log_format = "console"
"""

REQUIRED = {"stream": "s", "region": "eu-west-1"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "streamer.toml"
    path.write_text(text)
    return path


def test_full_file_with_every_section(tmp_path: Path) -> None:
    """Every section's keys land in Settings, with linger_ms converted to seconds once, for the
    batcher."""
    s = load(write(tmp_path, FULL_TOML), {})
    assert (s.name, s.description) == ("Kinesis prod", "profile exports")
    assert (s.stream, s.region, s.endpoint_url) == (
        "profile-exports",
        "eu-west-1",
        "http://127.0.0.1:4567",
    )
    assert s.access_key_id == "AKIDEXAMPLEKEY"
    assert s.attributes == ("person.email", "person.name.lastName")
    assert s.segments == (
        Segment("seg-1", "Gold", {"createdAt": 1700000000, "mappingUpdatedAt": 1700000500}),
        Segment("seg-2"),
    )
    assert s.include_segment_names is s.include_segment_timestamps is True
    assert s.partition_key == "email_lc_sha256"
    assert s.linger_ms == 20
    assert config.batch_limits(s).linger_s == pytest.approx(0.02)
    assert (s.writers, s.max_request_bytes, s.max_record_bytes) == (8, 10 * 2**20, 2 * 2**20)
    assert (s.buffer_records, s.record_budget_s, s.max_attempts) == (1000, 12.5, 4)
    assert s.transport == "botocore"
    assert s.dead_letter == Path("out/dead.ndjson")
    assert s.drain_deadline_s == 5.0
    assert (s.log_level, s.log_format) == ("debug", "console")


def test_activation_is_built_from_settings(tmp_path: Path) -> None:
    """Settings.activation() hands the exporter segments by id and the record limit."""
    activation = load(write(tmp_path, FULL_TOML), {}).activation()
    assert activation.segments is not None
    assert set(activation.segments) == {"seg-1", "seg-2"}
    assert activation.segments["seg-1"].name == "Gold"
    assert activation.partition_key_namespace == "email_lc_sha256"
    assert activation.max_record_bytes == 2 * 2**20


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            'stream = "s1"\nregion = "r"\nlinger_ms = 250\n',
            r"linger_ms belongs in \[producer\], not at the top level",
            id="producer-key-at-top",
        ),
        pytest.param(
            'stream = "s1"\nregion = "r"\n[daemon]\nwriters = 2\n',
            r"writers belongs in \[producer\], not in \[daemon\]",
            id="producer-key-in-daemon",
        ),
        pytest.param(
            '[producer]\nstream = "s1"\n',
            r"stream belongs at the top level, not in \[producer\]",
            id="top-key-in-producer",
        ),
        pytest.param(
            '[destination]\nstream = "s1"\n',
            r"\[destination\] is not a section; the destination and activation keys go at the top",
            id="old-destination-section",
        ),
        pytest.param(
            'stream = "s"\nregion = "r"\nproducer = 5\n',
            "producer must be a section",
            id="section-as-value",
        ),
    ],
)
def test_a_key_in_the_wrong_section_is_refused(tmp_path: Path, text: str, message: str) -> None:
    """Sections are enforced: the error names the key and the section it belongs in."""
    with pytest.raises(ConfigError, match=message) as info:
        load(write(tmp_path, text), {})
    assert info.value.exit_code == ExitCode.CONFIG


def test_every_key_has_one_section_and_a_flag_unless_secret() -> None:
    """The table covers every Settings field; only the secrets lack a flag."""
    keys = config.file_keys()
    assert sorted(k for ks in keys.values() for k in ks) == sorted(config.HINTS)
    no_flag = {o.key for o in OPTIONS if not o.flag}
    assert no_flag == {"access_key_id", "secret_access_key", "session_token"}


def test_defaults_when_only_required_keys_are_given() -> None:
    """Unset keys take the named limits and defaults."""
    s = build(REQUIRED)
    assert s.segments is None
    assert s.attributes is None
    assert s.partition_key == "ecid"
    assert s.max_request_bytes == limits.MAX_REQUEST_BYTES
    assert s.max_record_bytes == 0  # follow the stream
    assert s.record_limit == limits.MAX_RECORD_BYTES
    assert s.linger_ms == limits.DEFAULT_LINGER_MS
    assert s.line_limit == limits.MAX_RECORD_BYTES + 64 * 1024


def test_flags_override_the_file(tmp_path: Path) -> None:
    """A flag wins over the file; a flag left as None does not erase the file's value."""
    path = write(tmp_path, FULL_TOML)
    s = load(path, {"stream": "other-stream", "region": None, "linger_ms": 500, "writers": 2})
    assert s.stream == "other-stream"
    assert s.region == "eu-west-1"
    assert s.linger_ms == 500
    assert s.writers == 2


def test_an_error_about_a_flag_names_the_flag(tmp_path: Path) -> None:
    """A bad value given as a flag is reported with the flag as typed, a file value by key."""
    with pytest.raises(ConfigError, match="--linger-ms must be between 0 and 60000, not -5"):
        load(None, {**REQUIRED, "linger_ms": -5.0})
    path = write(tmp_path, 'stream = "s"\nregion = "r"\n[producer]\nlinger_ms = -5\n')
    with pytest.raises(ConfigError, match=r"^linger_ms must be between 0 and 60000, not -5"):
        load(path, {})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--linger-ms", "1e300"], "--linger-ms must be between 0 and 60000, not 1e+300"),
        (["--linger-ms", "-5"], "--linger-ms must be between 0 and 60000, not -5"),
        (["--max-line-bytes", "1"], "--max-line-bytes must be between 1024 and"),
        (["--writers", "0"], "--writers must be between 1 and 1024, not 0"),
        (["--record-budget-s", "nan"], "--record-budget-s must be a finite number"),
        (["--segments", ","], "--segments is empty"),
    ],
)
def test_senseless_flag_values_exit_2_naming_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI refuses values that make no sense, with one sentence naming the flag."""
    code = cli.main(["run", "--stream", "s", "--region", "r", *argv])
    assert code == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_help_shows_each_default_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    """Every run flag's help shows the Settings default, and check takes only its options."""
    run = cli.command_parser("run")
    check = cli.command_parser("check")
    run_flags = {a.dest: a for a in run._actions if a.dest not in {"help", "config"}}
    assert set(run_flags) == {o.key for o in OPTIONS if o.flag}
    assert "(default 16)" in (run_flags["writers"].help or "")
    assert "(default 50 ms)" in (run_flags["linger_ms"].help or "")
    check_flags = {a.dest for a in check._actions} - {"help", "config"}
    assert check_flags == {o.key for o in OPTIONS if o.flag and o.check}
    assert "writers" not in check_flags
    assert "linger_ms" not in check_flags


def test_flag_lists_and_toggles() -> None:
    """Comma-separated --segments/--attributes and --no-... toggles reach the settings."""
    args = cli.build_parser().parse_args(
        ["run", "--segments", "a, b", "--attributes", "person.email", "--no-progress"]
    )
    flags = {k: v for k, v in vars(args).items() if k not in {"command", "config"}}
    s = load(None, {**REQUIRED, **flags})
    assert s.segments == (Segment("a"), Segment("b"))
    assert s.attributes == ("person.email",)
    assert s.progress is False


@pytest.mark.parametrize(
    ("value", "expected"),
    [("all", None), (None, None), (["a", {"id": "b"}], (Segment("a"), Segment("b")))],
)
def test_segments_forms(value: Any, expected: tuple[Segment, ...] | None) -> None:
    """Segments may be "all", ids, or tables with an id."""
    assert build({**REQUIRED, "segments": value}).segments == expected


def test_attributes_all_means_every_attribute() -> None:
    """attributes = "all" is the same as leaving it out."""
    assert build({**REQUIRED, "attributes": "all"}).attributes is None


def test_secrets_are_absent_from_repr(tmp_path: Path) -> None:
    """repr and str of Settings never show the access key, secret or session token."""
    s = load(write(tmp_path, FULL_TOML), {})
    for text in (repr(s), str(s)):
        assert "AKIDEXAMPLEKEY" not in text
        assert "top-secret-value" not in text
        assert "session-token-value" not in text
        assert "profile-exports" in text


def test_settings_are_frozen() -> None:
    """Settings cannot be changed after validation."""
    s = build(REQUIRED)
    with pytest.raises(AttributeError):
        s.stream = "x"  # type: ignore[misc]
    assert isinstance(s, Settings)


# -- validation errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param({"region": "r"}, "no stream given", id="missing-stream"),
        pytest.param({"stream": "", "region": "r"}, "no stream given", id="empty-stream"),
        pytest.param({"stream": "has space", "region": "r"}, "stream name 'has space'", id="bad"),
        pytest.param({"stream": "x" * 129, "region": "r"}, "stream name", id="stream-too-long"),
        pytest.param({"stream": 5, "region": "r"}, "stream must be a string", id="stream-type"),
        pytest.param({"stream": "s"}, "no region given", id="missing-region"),
        pytest.param(
            {**REQUIRED, "access_key_id": "AK"},
            "access_key_id and secret_access_key must be given together",
            id="key-without-secret",
        ),
        pytest.param(
            {**REQUIRED, "secret_access_key": "SK"},
            "access_key_id and secret_access_key must be given together",
            id="secret-without-key",
        ),
        pytest.param({**REQUIRED, "strem": "x"}, r"unknown setting\(s\): strem", id="unknown-key"),
        pytest.param(
            {**REQUIRED, "segments": "seg-1"}, "segments must be a list", id="segments-string"
        ),
        pytest.param(
            {**REQUIRED, "segments": [1]}, r"segments\[0\] must be a segment id", id="segment-int"
        ),
        pytest.param(
            {**REQUIRED, "segments": ["a", {"name": "x"}]},
            r"segments\[1\] must be a segment id or a table with an id",
            id="segment-no-id",
        ),
        pytest.param(
            {**REQUIRED, "segments": [{"id": "a", "colour": "red"}]},
            r"segments\[0\] has unknown key\(s\): colour",
            id="segment-unknown-key",
        ),
        pytest.param(
            {**REQUIRED, "segments": [{"id": "a", "name": 3}]},
            r"segments\[0\].name must be a string",
            id="segment-name-type",
        ),
        pytest.param(
            {**REQUIRED, "attributes": "person.email"},
            "attributes must be a list of dotted attribute paths",
            id="attributes-string",
        ),
        pytest.param(
            {**REQUIRED, "attributes": ["person", 3]},
            "attributes must be a list",
            id="attributes-int",
        ),
        pytest.param(
            {**REQUIRED, "attributes": ["person..email"]},
            "attribute path 'person..email' has an empty part",
            id="attribute-empty-part",
        ),
        pytest.param(
            {**REQUIRED, "max_request_bytes": 2**20, "max_record_bytes": 2 * 2**20},
            r"max_record_bytes \(2097152\) must be at most max_request_bytes \(1048576\)",
            id="record-above-request",
        ),
        pytest.param(
            {**REQUIRED, "max_request_bytes": limits.MAX_REQUEST_BYTES_CEILING + 1},
            "max_request_bytes must be between 1024 and 10485760",
            id="request-above-ceiling",
        ),
        pytest.param(
            {**REQUIRED, "linger_ms": "fast"}, "linger_ms must be a number", id="linger-ms-type"
        ),
        pytest.param(
            {**REQUIRED, "linger_ms": -0.5}, "linger_ms must be between 0 and 60000", id="neg"
        ),
        pytest.param(
            {**REQUIRED, "linger_ms": float("nan")},
            "linger_ms must be a finite number",
            id="linger-nan",
        ),
        pytest.param(
            {**REQUIRED, "record_budget_s": float("inf")},
            "record_budget_s must be a finite number",
            id="budget-inf",
        ),
        pytest.param(
            {**REQUIRED, "linger_s": 1.0}, r"unknown setting\(s\): linger_s", id="linger-s"
        ),
        pytest.param(
            {**REQUIRED, "backoff_base_s": -1}, "backoff_base_s must be between 0 and 60", id="base"
        ),
        pytest.param(
            {**REQUIRED, "record_budget_s": 0}, "record_budget_s must be between 0.001", id="b"
        ),
        pytest.param(
            {**REQUIRED, "writers": 0}, "writers must be between 1 and 1024", id="writers-zero"
        ),
        pytest.param(
            {**REQUIRED, "backoff_base_s": 3, "backoff_cap_s": 2},
            r"backoff_base_s must be at most backoff_cap_s \(2\)",
            id="base-above-cap",
        ),
        pytest.param(
            {**REQUIRED, "writers": 2.5}, "writers must be a whole number", id="writers-float"
        ),
        pytest.param(
            {**REQUIRED, "max_attempts": True},
            "max_attempts must be a whole number",
            id="attempts-bool",
        ),
        pytest.param(
            {**REQUIRED, "buffer_bytes": 1000},
            "buffer_bytes must be at least max_record_bytes",
            id="buffer-below-record",
        ),
        pytest.param(
            {**REQUIRED, "include_segment_names": "yes"},
            "include_segment_names must be true or false",
            id="toggle-type",
        ),
        pytest.param(
            {**REQUIRED, "endpoint_url": "localhost:4567"},
            "endpoint_url 'localhost:4567' must start with http:// or https://",
            id="endpoint-scheme",
        ),
        pytest.param(
            {**REQUIRED, "transport": "carrier-pigeon"},
            "transport must be one of fast, botocore, not 'carrier-pigeon'",
            id="transport",
        ),
        pytest.param({**REQUIRED, "log_level": "loud"}, "log_level must be one of", id="level"),
        pytest.param({**REQUIRED, "partition_key": ""}, "partition_key must name", id="pk-empty"),
        pytest.param(
            {**REQUIRED, "max_line_bytes": -1},
            r"max_line_bytes must be between 1024 and \d+ \(or 0: automatic\)",
            id="line-negative",
        ),
        pytest.param({**REQUIRED, "dead_letter": 5}, "dead_letter must be a file path", id="dl"),
        pytest.param({**REQUIRED, "dead_letter": ""}, "dead_letter must be a file path", id="dl0"),
    ],
)
def test_validation_errors_name_the_key(raw: dict[str, Any], message: str) -> None:
    """Each invalid setting raises ConfigError with one sentence naming the offending key."""
    with pytest.raises(ConfigError, match=message) as info:
        build(raw)
    assert info.value.exit_code == ExitCode.CONFIG
    assert "\n" not in str(info.value)


def test_error_messages_never_show_the_secret() -> None:
    """A rejected configuration's message does not echo the secret key."""
    with pytest.raises(ConfigError) as info:
        build({"stream": "s", "region": "r", "secret_access_key": "top-secret-value"})
    assert "top-secret-value" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('stream = "s"\nregion = "r"\n[producr]\nwriters = 2\n', "producr", id="sect"),
        pytest.param(
            'stream = "s"\nregion = "r"\n[producer]\nwritters = 2\n', "writters", id="in-section"
        ),
        pytest.param('stream = "s"\nregion = "r"\nlinger_ms = "x"\n', "linger_ms", id="linger"),
        pytest.param("stream = \n", "is not valid TOML", id="bad-toml"),
    ],
)
def test_file_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Typos in section or key names and bad values in the file are reported by name."""
    with pytest.raises(ConfigError, match=message):
        load(write(tmp_path, text), {})


def test_missing_file(tmp_path: Path) -> None:
    """A config path that does not exist is one clear ConfigError."""
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml", REQUIRED)


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    """A config file that is not UTF-8 is a ConfigError, not a decoding traceback."""
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'stream = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(path, REQUIRED)


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    """A directory given as the config file is a ConfigError saying it cannot be read."""
    with pytest.raises(ConfigError, match="cannot be read"):
        load(tmp_path, REQUIRED)


def test_empty_segment_list_is_refused() -> None:
    """An empty segment mapping would filter every profile, so it is a config error."""
    with pytest.raises(ConfigError, match="segments is empty"):
        build({**REQUIRED, "segments": []})


def test_enormous_number_is_a_config_error() -> None:
    """A time setting too large for a float is a config error, not a crash."""
    with pytest.raises(ConfigError, match="record_budget_s is far too large"):
        build({**REQUIRED, "record_budget_s": 10**400})
