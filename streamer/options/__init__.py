"""The table of settings: one row per key, with its section, flag, help and bounds.

What it does: names every setting the config file and the command line accept, once. A row
says where the key belongs in the TOML file (the top level for the destination and activation,
`[producer]` for batching, limits, retries, rate and ordering, `[daemon]` for inputs, dead letter,
drain, logs and metrics), the bounds a number must lie in, whether `streamer check` takes it too
(`streamer replay` takes the top-level and [producer] keys and `REPLAY_DAEMON_KEYS`), and the
help text. `cli.py` generates the flags from these rows and `config.py` validates the
values against them; defaults and types come from the `Settings` dataclass fields, so help,
defaults and validation cannot drift apart. Adding a setting is one `Settings` field and one row.

The rows live in one module per TOML section (`top.py`, `producer.py`, `daemon.py`); a row's
shape is `row.Option`.

What it leaves out: parsing and validation (`config.py`, `values.py`), argparse (`cli.py`).
"""

from __future__ import annotations

from typing import Final

from streamer.options.daemon import DAEMON
from streamer.options.producer import PRODUCER
from streamer.options.row import DAY_S, SECTIONS, Option, Section
from streamer.options.top import TOP

__all__ = ["BY_KEY", "DAY_S", "OPTIONS", "SECTIONS", "Option", "Section", "takes"]

OPTIONS: Final[tuple[Option, ...]] = (*TOP, *PRODUCER, *DAEMON)

BY_KEY: Final = {o.key: o for o in OPTIONS}

REPLAY_DAEMON_KEYS: Final = frozenset(
    {"dead_letter", "drain_deadline_s", "log_level", "log_format"}
)
"""The [daemon] keys `streamer replay` takes besides every top-level and [producer] key (it
reads no inputs and serves no metrics)."""


def takes(command: str, option: Option) -> bool:
    """Whether `streamer COMMAND` has a flag for `option`."""
    if not option.flag:
        return False
    if command == "check":
        return option.check
    if command == "replay":
        return option.section != "daemon" or option.key in REPLAY_DAEMON_KEYS
    return True
