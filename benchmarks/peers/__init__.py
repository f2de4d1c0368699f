"""Peers for the throughput benchmark: the alternatives a user would pick instead of streamer.

Each peer is a standalone program (`python -m benchmarks.peers.<name>`) that reads
newline-delimited profile events from stdin, sends the same export record per event to a
Kinesis-compatible endpoint and prints one JSON summary line. `common` holds the work they share.
"""
