"""The `streamer` command and `python -m streamer`: start-up tuning that must come before the
imports (`runtime.collect_less`), then the command line (`cli.py`)."""

from __future__ import annotations

import sys

from streamer import runtime


def main() -> int:
    runtime.collect_less()
    from streamer.cli import main as cli_main  # noqa: PLC0415 - after collect_less, see there

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
