"""streamer: stream profile segment-qualification events into Amazon Kinesis Data Streams."""

from streamer import _compiled

__version__ = "0.1.0"

MODULES_COMPILED = _compiled.choose(__name__)
"""Whether the hot modules run compiled (mypyc); see `streamer/_compiled.py`."""
