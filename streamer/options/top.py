"""Rows of the top level of the config file: where records go and what is exported.

What it does: the destination (name, stream or stream ARN, region, endpoint, credentials,
profile, role to assume) and the activation (mapped segments, selected attributes, segment
decorations, partition-key namespace), one `Option` each, in the order `--help` lists them.

What it leaves out: the producer's and the daemon's keys (`producer.py`, `daemon.py`).
"""

from __future__ import annotations

from typing import Final

from streamer.options.row import Option

TOP: Final[tuple[Option, ...]] = (
    # -- top level: the destination -------------------------------------------------------------
    Option("name", "", "destination name, shown in the start-up log line", "TEXT", check=True),
    Option("description", "", "destination description, logged at start-up", "TEXT", check=True),
    Option("stream", "", "Kinesis stream name", "NAME", check=True),
    Option(
        "stream_arn",
        "",
        "Kinesis stream ARN, instead of stream (e.g. a stream in another account); the region "
        "comes from it",
        "ARN",
        check=True,
    ),
    Option("region", "", "AWS region, e.g. eu-west-1", "REGION", check=True),
    Option(
        "endpoint_url",
        "",
        "Kinesis-compatible endpoint, e.g. a local one",
        "URL",
        check=True,
        shown_default="AWS's endpoint for the region",
    ),
    Option("profile", "", "AWS shared-config profile", "NAME", check=True, shown_default="none"),
    Option("access_key_id", "", "AWS access key id (config file only)", flag=False),
    Option("secret_access_key", "", "AWS secret access key (config file only)", flag=False),
    Option("session_token", "", "AWS session token (config file only)", flag=False),
    Option(
        "role_arn",
        "",
        "IAM role to assume on top of the base credentials; refreshed before it expires",
        "ARN",
        check=True,
        shown_default="none",
    ),
    Option(
        "external_id",
        "",
        "external id the role's trust policy asks for",
        "ID",
        check=True,
        shown_default="none",
    ),
    Option("role_session_name", "", "session name when assuming the role", "NAME", check=True),
    # -- top level: the activation --------------------------------------------------------------
    Option(
        "segments",
        "",
        "mapped segment ids, comma-separated, or all (the file also takes tables with names "
        "and timestamps); profiles in none of them are not exported",
        "IDS",
    ),
    Option(
        "attributes",
        "",
        "selected attributes as dotted paths, comma-separated, or all",
        "PATHS",
    ),
    Option("include_segment_names", "", "add each mapped segment's name to its entry"),
    Option("include_segment_timestamps", "", "add each mapped segment's timestamps to its entry"),
    Option(
        "partition_key",
        "",
        "identity namespace whose first id is the partition key",
        "NAMESPACE",
    ),
)
