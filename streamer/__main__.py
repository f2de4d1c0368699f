"""`python -m streamer` works like the `streamer` command."""

import sys

from streamer.cli import main

sys.exit(main())
