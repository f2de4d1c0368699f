"""streamer: stream profile segment-qualification events into Amazon Kinesis Data Streams."""

__version__ = "0.1.0"
