"""`python -m benchmarks.endpoint`: the endpoint program (see `cli`)."""

import sys

from benchmarks.endpoint.cli import main

sys.exit(main())
