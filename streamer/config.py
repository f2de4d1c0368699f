"""One frozen configuration, loaded once from a TOML file and command-line flags, validated
against the named service limits, and the settings objects each component is handed.

What it does: `Settings` holds every setting, typed (`Literal` for the enum-like ones), with its
default taken from `limits.py`. `load` reads the TOML file, refusing a key outside its section
(`options.py` says where each belongs) with one sentence naming the right section, puts the
flags on top and validates everything once: each value by its field's type and its option's
bounds (`values.py`), then the rules between settings; an error names the key as the user typed
it (`--linger-ms` for a flag, `linger_ms` for a file key). Units are converted once, when a
component's settings are built here (`batch_limits`, `aws_settings`, ...), so no component
restates a default or a unit.

What it leaves out: credentials from the AWS chain (resolved by `aws/`), flag syntax
(`cli.py`), and the wiring (`daemon.py`).
"""

from __future__ import annotations

import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from streamer import destination, limits
from streamer.accumulator import BatchLimits
from streamer.compression import Codec
from streamer.errors import ConfigError
from streamer.export import Activation, Segment
from streamer.kinesis import AwsSettings, Transport
from streamer.options import BY_KEY, OPTIONS, SECTIONS
from streamer.pipeline import PipelineSettings
from streamer.ratelimit import RateSettings
from streamer.retry import RetryPolicy
from streamer.sources.address import STDIN, HostPort, InputSpec
from streamer.sources.exposure import input_problem
from streamer.sources.http_request import HttpSettings
from streamer.values import convert

Ordering = Literal["strict", "relaxed"]
Aggregation = Literal["none", "kpl"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["json", "console"]
SpoolSync = Literal["interval", "always", "never"]


@dataclass(frozen=True)
class Settings:
    """Everything the daemon needs, validated. Secrets are excluded from `repr`.

    One field per row of `options.OPTIONS`; the field's type drives validation."""

    # top level: the destination
    name: str = "Amazon Kinesis"
    description: str = ""
    stream: str = ""
    stream_arn: str = ""
    region: str = ""
    endpoint_url: str | None = None
    profile: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    role_arn: str | None = None
    external_id: str | None = field(default=None, repr=False)
    role_session_name: str = destination.DEFAULT_ROLE_SESSION_NAME
    # top level: the activation
    segments: tuple[Segment, ...] | None = None
    attributes: tuple[str, ...] | None = None
    include_segment_names: bool = False
    include_segment_timestamps: bool = False
    partition_key: str = "ecid"
    # [producer]
    linger_ms: float = limits.DEFAULT_LINGER_MS
    writers: int = limits.DEFAULT_WRITERS
    max_request_bytes: int = limits.MAX_REQUEST_BYTES
    max_record_bytes: int = 0
    """0 means the stream's record limit, decided at start-up (`destination.record_limit`)."""
    max_line_bytes: int = 0
    """0 means the record limit plus `limits.LINE_SLACK_BYTES`."""
    buffer_records: int = limits.DEFAULT_BUFFER_RECORDS
    buffer_bytes: int = limits.DEFAULT_BUFFER_BYTES
    record_budget_s: float = limits.DEFAULT_RECORD_BUDGET_S
    max_attempts: int = limits.DEFAULT_MAX_ATTEMPTS
    backoff_base_s: float = limits.DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = limits.DEFAULT_BACKOFF_CAP_S
    request_timeout_s: float = limits.DEFAULT_REQUEST_TIMEOUT_S
    transport: Transport = "fast"
    shard_rate_factor: float = limits.DEFAULT_SHARD_RATE_FACTOR
    ordering: Ordering = "strict"
    aggregation: Aggregation = "none"
    aggregation_target_bytes: int = limits.DEFAULT_AGGREGATION_TARGET_BYTES
    compression: Codec = "none"
    # [daemon]
    inputs: tuple[InputSpec, ...] = (STDIN,)
    max_connections: int = limits.DEFAULT_MAX_CONNECTIONS
    max_body_bytes: int = limits.DEFAULT_MAX_BODY_BYTES
    http_wait_s: float = limits.DEFAULT_HTTP_WAIT_S
    http_token_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    allow_remote_unauthenticated: bool = False
    idle_timeout_s: float = limits.DEFAULT_IDLE_TIMEOUT_S
    shutdown_idle_ms: float = limits.DEFAULT_SHUTDOWN_IDLE_MS
    metrics_address: HostPort | None = None
    dead_letter: Path = Path("dead-letter.ndjson")
    drain_deadline_s: float = limits.DEFAULT_DRAIN_DEADLINE_S
    log_level: LogLevel = "info"
    log_format: LogFormat = "json"
    unready_after_s: float = limits.DEFAULT_UNREADY_AFTER_S
    progress: bool = False
    progress_interval_s: float = limits.DEFAULT_PROGRESS_INTERVAL_S
    spool_dir: Path | None = None
    spool_sync: SpoolSync = "interval"
    spool_sync_interval_ms: float = limits.DEFAULT_SPOOL_SYNC_INTERVAL_MS
    spool_max_bytes: int = limits.DEFAULT_SPOOL_MAX_BYTES

    @property
    def stream_name(self) -> str:
        """The stream's name, also when it is given by ARN."""
        return destination.stream_label(self.stream, self.stream_arn)

    @property
    def record_limit(self) -> int:
        """The record limit; before start-up decides it, 1 MiB when unset."""
        return self.max_record_bytes or limits.MAX_RECORD_BYTES

    @property
    def line_limit(self) -> int:
        return self.max_line_bytes or self.record_limit + limits.LINE_SLACK_BYTES

    def activation(self) -> Activation:
        return Activation(
            segments=None if self.segments is None else {s.id: s for s in self.segments},
            attributes=self.attributes,
            include_segment_names=self.include_segment_names,
            include_segment_timestamps=self.include_segment_timestamps,
            partition_key_namespace=self.partition_key,
            max_record_bytes=self.record_limit,
        )


HINTS: dict[str, Any] = typing.get_type_hints(Settings)
DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings)}
_missing = set(HINTS) ^ set(BY_KEY)
assert not _missing, f"Settings fields and options rows differ: {sorted(_missing)}"


# -- the settings each component is handed ---------------------------------------------------
def batch_limits(s: Settings) -> BatchLimits:
    return BatchLimits(
        max_bytes=s.max_request_bytes,
        linger_s=s.linger_ms / 1000,
        buffer_records=s.buffer_records,
        buffer_bytes=s.buffer_bytes,
        one_per_key=s.ordering == "strict",
        aggregation_bytes=(
            min(s.aggregation_target_bytes, s.record_limit) if s.aggregation == "kpl" else 0
        ),
    )


def rate_settings(s: Settings) -> RateSettings:
    return RateSettings(factor=s.shard_rate_factor)


def retry_policy(s: Settings) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=s.max_attempts,
        budget_s=s.record_budget_s,
        backoff_base_s=s.backoff_base_s,
        backoff_cap_s=s.backoff_cap_s,
    )


def pipeline_settings(s: Settings) -> PipelineSettings:
    return PipelineSettings(writers=s.writers, keep_spooled=s.spool_dir is not None)


def http_settings(s: Settings) -> HttpSettings:
    return HttpSettings(
        max_body_bytes=s.max_body_bytes,
        wait_s=s.http_wait_s,
        settle_wait_s=s.record_budget_s + s.request_timeout_s + s.drain_deadline_s,
        token_file=s.http_token_file,
        tls_cert_file=s.tls_cert_file,
        tls_key_file=s.tls_key_file,
    )


def aws_settings(s: Settings) -> AwsSettings:
    return AwsSettings(
        stream=s.stream,
        stream_arn=s.stream_arn or None,
        region=s.region,
        endpoint_url=s.endpoint_url,
        access_key_id=s.access_key_id,
        secret_access_key=s.secret_access_key,
        session_token=s.session_token,
        profile=s.profile,
        role_arn=s.role_arn,
        external_id=s.external_id,
        role_session_name=s.role_session_name,
        request_timeout_s=s.request_timeout_s,
        max_connections=s.writers,
        transport=s.transport,
    )


# -- loading ---------------------------------------------------------------------------------
def load(path: Path | None, flags: Mapping[str, Any]) -> Settings:
    """Settings from the TOML file at `path` (if any) with `flags` on top (None: not given).

    Errors about a flag's value name the flag (`--writers`), about a file value the key."""
    raw: dict[str, Any] = {} if path is None else read_toml(path)
    labels: dict[str, str] = {}
    for key, value in flags.items():
        if value is None:
            continue
        raw[key] = value
        option = BY_KEY.get(key)
        if option is not None:
            labels[key] = option.flag_name
    return build(raw, labels)


def read_toml(path: Path) -> dict[str, Any]:
    """The file's keys, flat, after checking each sits in its own section."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"config file {path}: {key} must be a section, [{key}]")
            for inner, inner_value in value.items():
                _check_section(path, inner, key)
                flat[inner] = inner_value
        elif isinstance(value, dict):
            raise ConfigError(
                f"config file {path}: [{key}] is not a section; the destination and activation "
                f"keys go at the top level, the others in [producer] or [daemon]"
            )
        else:
            _check_section(path, key, "")
            flat[key] = value
    return flat


def _where(section: str) -> str:
    return f"in [{section}]" if section else "at the top level"


def _check_section(path: Path, key: str, section: str) -> None:
    option = BY_KEY.get(key)
    if option is None:
        raise ConfigError(f"config file {path}: unknown setting {key!r} {_where(section)}")
    if option.section != section:
        raise ConfigError(
            f"config file {path}: {key} belongs {_where(option.section)}, not {_where(section)}"
        )


def build(raw: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> Settings:
    """Validate a flat mapping of settings into `Settings`; `labels` names keys given as flags."""
    unknown = sorted(set(raw) - set(BY_KEY))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    labels = labels or {}
    values = {
        key: convert(BY_KEY[key], HINTS[key], value, labels.get(key, key))
        for key, value in raw.items()
    }
    settings = Settings(**values)
    return _validate(settings, labels)


# -- rules between settings ------------------------------------------------------------------
def _validate(s: Settings, labels: Mapping[str, str]) -> Settings:
    """The settings with the region taken from a stream ARN; raise on a rule broken."""

    def name(key: str) -> str:
        return labels.get(key, key)

    region = destination.stream_region(s.stream, s.stream_arn, s.region, name)
    destination.check_role(s.role_arn, s.external_id, s.role_session_name, name)
    if bool(s.access_key_id) != bool(s.secret_access_key):
        raise ConfigError("access_key_id and secret_access_key must be given together")
    if s.endpoint_url is not None and not s.endpoint_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{name('endpoint_url')} {s.endpoint_url!r} must start with http:// or https://"
        )
    if s.record_limit > s.max_request_bytes:
        raise ConfigError(
            f"{name('max_record_bytes')} ({s.record_limit}) must be at most "
            f"{name('max_request_bytes')} ({s.max_request_bytes})"
        )
    if s.buffer_bytes < s.record_limit:
        raise ConfigError(
            f"{name('buffer_bytes')} must be at least {name('max_record_bytes')} ({s.record_limit})"
        )
    if s.backoff_base_s > s.backoff_cap_s:
        cap = name("backoff_cap_s")
        raise ConfigError(f"{name('backoff_base_s')} must be at most {cap} ({s.backoff_cap_s:g})")
    if not s.partition_key:
        raise ConfigError(f"{name('partition_key')} must name an identity namespace")
    problem = input_problem(
        s.inputs,
        has_token=s.http_token_file is not None,
        tls_files=(s.tls_cert_file, s.tls_key_file),
        allowed=s.allow_remote_unauthenticated,
    )
    if problem is not None:
        raise ConfigError(problem)
    return s if region == s.region else replace(s, region=region)


def file_keys() -> dict[str, list[str]]:
    """Section -> keys, for documentation and tests."""
    out: dict[str, list[str]] = {"": [], **{s: [] for s in SECTIONS}}
    for option in OPTIONS:
        out[option.section].append(option.key)
    return out
