"""One frozen configuration, loaded once from a TOML file and command-line overrides, validated
against the named service limits.

What it does: reads the destination (name, description, stream, region, endpoint, credentials),
the activation (mapped segments, selected attributes, segment name/timestamp toggles, partition
key namespace) and the producer tuning; flags override the file; every value is checked with a
one-sentence `ConfigError` naming the key. Units are converted here once (milliseconds to
seconds). Unknown keys are errors, so a typo never silently falls back to a default.

What it leaves out: credentials from the AWS chain (resolved by `aws.py`), and the wiring.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from streamer import limits
from streamer.errors import ConfigError
from streamer.export import Activation, Segment
from streamer.sources.address import STDIN, HostPort, InputSpec, parse_host_port
from streamer.sources.registry import parse_input

STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
TRANSPORTS = ("fast", "botocore")
ORDERINGS = ("strict", "relaxed")
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_MAX_CONNECTIONS = 256
MAX_CONNECTIONS_CEILING = 65536
DEFAULT_PROGRESS_INTERVAL_S = 5.0


@dataclass(frozen=True)
class Settings:
    """Everything the daemon needs, validated. Secrets are excluded from `repr`."""

    # destination
    name: str = "Amazon Kinesis"
    description: str = ""
    stream: str = ""
    region: str = ""
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    # activation
    segments: tuple[Segment, ...] | None = None
    attributes: tuple[str, ...] | None = None
    include_segment_names: bool = False
    include_segment_timestamps: bool = False
    partition_key: str = "ecid"
    # producer
    linger_s: float = limits.DEFAULT_LINGER_S
    writers: int = limits.DEFAULT_WRITERS
    max_request_bytes: int = limits.MAX_REQUEST_BYTES
    max_record_bytes: int = limits.MAX_RECORD_BYTES
    max_line_bytes: int = 0
    """0 means the record limit plus 64 KiB of slack for JSON whitespace."""
    buffer_records: int = limits.DEFAULT_BUFFER_RECORDS
    buffer_bytes: int = limits.DEFAULT_BUFFER_BYTES
    record_budget_s: float = limits.DEFAULT_RECORD_BUDGET_S
    max_attempts: int = limits.DEFAULT_MAX_ATTEMPTS
    backoff_base_s: float = limits.DEFAULT_BACKOFF_BASE_S
    backoff_cap_s: float = limits.DEFAULT_BACKOFF_CAP_S
    request_timeout_s: float = limits.DEFAULT_REQUEST_TIMEOUT_S
    transport: str = "fast"
    shard_rate_factor: float = 1.0
    """Per-shard send rate as a multiple of the shard write limit; 0 turns limiting off."""
    ordering: str = "strict"
    """strict: at most one record per partition key per call; relaxed: no such bound."""
    # daemon
    dead_letter: Path = Path("dead-letter.ndjson")
    drain_deadline_s: float = limits.DEFAULT_DRAIN_DEADLINE_S
    log_level: str = "info"
    log_format: str = "json"
    # daemon: inputs and observability
    inputs: tuple[InputSpec, ...] = (STDIN,)
    """Where lines come from: stdin and/or socket listeners (tcp://, unix://)."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Open socket connections at once, over all socket inputs; more are closed at once."""
    metrics_address: HostPort | None = None
    """Where /metrics, /healthz and /readyz are served; None: not served."""
    progress: bool = False
    """Print a progress line every `progress_interval_s` (also on when stderr is a terminal)."""
    progress_interval_s: float = DEFAULT_PROGRESS_INTERVAL_S

    @property
    def line_limit(self) -> int:
        return self.max_line_bytes or self.max_record_bytes + 64 * 1024

    def activation(self) -> Activation:
        return Activation(
            segments=None if self.segments is None else {s.id: s for s in self.segments},
            attributes=self.attributes,
            include_segment_names=self.include_segment_names,
            include_segment_timestamps=self.include_segment_timestamps,
            partition_key_namespace=self.partition_key,
            max_record_bytes=self.max_record_bytes,
        )


_FIELDS = {f.name for f in fields(Settings)}
_FILE_ALIASES = {"linger_ms": "linger_s"}
_SECTIONS = ("destination", "activation", "producer", "daemon")


def load(path: Path | None, overrides: Mapping[str, Any]) -> Settings:
    """Settings from the TOML file at `path` (if any) with `overrides` (flags) on top."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(path)
    flags = {k: v for k, v in overrides.items() if v is not None}
    _convert_linger_ms(flags)
    raw.update(flags)
    return build(raw)


def _read_toml(path: Path) -> dict[str, Any]:
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
        if key in _SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    _convert_linger_ms(flat)
    return flat


def _convert_linger_ms(values: dict[str, Any]) -> None:
    if "linger_ms" in values:
        if "linger_s" in values:
            raise ConfigError("set linger_ms or linger_s, not both")
        values["linger_s"] = _number(values.pop("linger_ms"), "linger_ms") / 1000


def build(raw: Mapping[str, Any]) -> Settings:
    """Validate a flat mapping of settings into `Settings`."""
    unknown = sorted(set(raw) - _FIELDS - set(_FILE_ALIASES))
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    values: dict[str, Any] = dict(raw)
    _convert_linger_ms(values)
    if "segments" in values:
        values["segments"] = _segments(values["segments"])
    if "attributes" in values:
        values["attributes"] = _attributes(values["attributes"])
    if "dead_letter" in values:
        if not isinstance(values["dead_letter"], str | Path) or not str(values["dead_letter"]):
            raise ConfigError("dead_letter must be a file path")
        values["dead_letter"] = Path(values["dead_letter"])
    for name in (
        "shard_rate_factor",
        "linger_s",
        "record_budget_s",
        "backoff_base_s",
        "backoff_cap_s",
        "request_timeout_s",
        "drain_deadline_s",
    ):
        if name in values:
            values[name] = _number(values[name], name)
    for name in (
        "writers",
        "max_request_bytes",
        "max_record_bytes",
        "max_line_bytes",
        "buffer_records",
        "buffer_bytes",
        "max_attempts",
    ):
        if name in values:
            values[name] = _integer(values[name], name)
    for name in ("include_segment_names", "include_segment_timestamps"):
        if name in values and not isinstance(values[name], bool):
            raise ConfigError(f"{name} must be true or false")
    for name in (
        "ordering",
        "name",
        "description",
        "stream",
        "region",
        "endpoint_url",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "profile",
        "partition_key",
        "transport",
        "log_level",
        "log_format",
    ):
        if name in values and values[name] is not None and not isinstance(values[name], str):
            raise ConfigError(f"{name} must be a string")
    _daemon_values(values)
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not s.stream:
        raise ConfigError("no stream given: pass --stream NAME or set stream in the config file")
    if not STREAM_NAME.match(s.stream):
        raise ConfigError(
            f"stream name {s.stream!r} is invalid: 1 to 128 letters, digits, '_', '.' or '-'"
        )
    if not s.region:
        raise ConfigError("no region given: pass --region REGION or set region in the config file")
    if bool(s.access_key_id) != bool(s.secret_access_key):
        raise ConfigError("access_key_id and secret_access_key must be given together")
    if s.endpoint_url is not None and not s.endpoint_url.startswith(("http://", "https://")):
        raise ConfigError(f"endpoint_url {s.endpoint_url!r} must start with http:// or https://")
    if not 1 <= s.max_request_bytes <= limits.MAX_REQUEST_BYTES_CEILING:
        raise ConfigError(
            f"max_request_bytes must be between 1 and {limits.MAX_REQUEST_BYTES_CEILING}"
        )
    if not 1 <= s.max_record_bytes <= min(s.max_request_bytes, limits.MAX_RECORD_BYTES_CEILING):
        raise ConfigError("max_record_bytes must be positive and at most max_request_bytes")
    if s.max_line_bytes < 0:
        raise ConfigError("max_line_bytes must be 0 (automatic) or positive")
    _positive(s.writers, "writers", upper=1024)
    _positive(s.buffer_records, "buffer_records")
    _positive(s.buffer_bytes, "buffer_bytes")
    _positive(s.max_attempts, "max_attempts", upper=1000)
    if s.buffer_bytes < s.max_record_bytes:
        raise ConfigError("buffer_bytes must be at least max_record_bytes")
    for name in ("record_budget_s", "request_timeout_s", "drain_deadline_s", "backoff_cap_s"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    for name in ("linger_s", "backoff_base_s"):
        if getattr(s, name) < 0:
            raise ConfigError(f"{name} must not be negative")
    if s.shard_rate_factor < 0:
        raise ConfigError("shard_rate_factor must be 0 (off) or positive")
    if s.ordering not in ORDERINGS:
        raise ConfigError(f"ordering must be one of {', '.join(ORDERINGS)}")
    if s.transport not in TRANSPORTS:
        raise ConfigError(f"transport must be one of {', '.join(TRANSPORTS)}")
    if s.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
    if s.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if not s.partition_key:
        raise ConfigError("partition_key must name an identity namespace")


def _daemon_values(values: dict[str, Any]) -> None:
    """Convert the daemon keys (inputs, metrics address, progress, connection limit) in place."""
    if "inputs" in values:
        raw = values["inputs"]
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list | tuple) or not raw or not all(isinstance(i, str) for i in raw):
            raise ConfigError("inputs must be a non-empty list of stdin, tcp://... or unix://...")
        try:
            specs = tuple(parse_input(i) for i in raw)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if len(set(specs)) != len(specs):
            raise ConfigError("inputs lists the same input twice")
        values["inputs"] = specs
    if values.get("metrics_address") is not None:
        if not isinstance(values["metrics_address"], str):
            raise ConfigError("metrics_address must be a string like 127.0.0.1:9108")
        try:
            values["metrics_address"] = parse_host_port(
                values["metrics_address"], label=f"metrics_address {values['metrics_address']!r}"
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    if "progress" in values and not isinstance(values["progress"], bool):
        raise ConfigError("progress must be true or false")
    if "progress_interval_s" in values:
        values["progress_interval_s"] = _number(
            values["progress_interval_s"], "progress_interval_s"
        )
    if "max_connections" in values:
        values["max_connections"] = _integer(values["max_connections"], "max_connections")
        _positive(values["max_connections"], "max_connections", upper=MAX_CONNECTIONS_CEILING)
    if values.get("progress_interval_s", 1.0) <= 0:
        raise ConfigError("progress_interval_s must be positive")


def _positive(value: int, name: str, upper: int | None = None) -> None:
    if value < 1 or (upper is not None and value > upper):
        bound = f" and at most {upper}" if upper is not None else ""
        raise ConfigError(f"{name} must be at least 1{bound}")


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, not {value}")
    try:
        return float(value)
    except OverflowError as exc:
        raise ConfigError(f"{name} is far too large") from exc


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number")
    return value


def _segments(value: Any) -> tuple[Segment, ...] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list):
        raise ConfigError("segments must be a list of segment ids or tables with an id")
    if not value:
        raise ConfigError(
            "segments is empty, so no profile would ever be exported: map at least one segment, "
            'or leave segments out (or set "all") to export every segment'
        )
    out: list[Segment] = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            out.append(Segment(id=item))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ConfigError(f"segments[{i}] must be a segment id or a table with an id")
        extra = set(item) - {
            "id",
            "name",
            "createdAt",
            "updatedAt",
            "mappingCreatedAt",
            "mappingUpdatedAt",
        }
        if extra:
            raise ConfigError(f"segments[{i}] has unknown key(s): {', '.join(sorted(extra))}")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise ConfigError(f"segments[{i}].name must be a string")
        timestamps = {k: v for k, v in item.items() if k not in {"id", "name"}}
        out.append(Segment(id=item["id"], name=name, timestamps=timestamps))
    return tuple(out)


def _attributes(value: Any) -> tuple[str, ...] | None:
    if value is None or value == "all":
        return None
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise ConfigError("attributes must be a list of dotted attribute paths")
    for path in value:
        if any(not part for part in path.split(".")):
            raise ConfigError(f"attribute path {path!r} has an empty part")
    return tuple(value)
