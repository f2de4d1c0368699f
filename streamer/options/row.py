"""One row of the settings table: a key, its section, flag, help and bounds.

What it does: `Option` describes one setting; `SECTIONS` names the TOML sections.

What it leaves out: the rows themselves (`top.py`, `producer.py`, `daemon.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from streamer import limits

Section = Literal["", "producer", "daemon"]
"""Where a key belongs in the TOML file; "" is the top level."""

SECTIONS: Final = ("producer", "daemon")


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: its key (the `Settings` field), section, help and bounds."""

    key: str
    section: Section
    help: str
    metavar: str | None = None
    low: float | None = None
    """Smallest value allowed (numbers only), inclusive."""
    high: float | None = None
    """Largest value allowed (numbers only), inclusive."""
    zero_means: str | None = None
    """0 is allowed besides the bounds and means this (e.g. "automatic")."""
    check: bool = False
    """`streamer check` takes the flag too (it matters to the start-up checks)."""
    flag: bool = True
    """False for secrets: a command line is readable by every user of the machine."""
    repeat: bool = False
    """The flag may be given several times, each adding one value (e.g. --input)."""
    unit: str = ""
    """Shown after the default in the help, e.g. "ms"."""
    shown_default: str | None = None
    """The default as the help shows it, when the field's value does not say it well."""
    flag_as: str | None = None
    """The flag's name when it is not the key with dashes (e.g. --input for inputs)."""

    @property
    def flag_name(self) -> str:
        return self.flag_as or "--" + self.key.replace("_", "-")


MiB = limits.MiB
DAY_S = 86_400.0
