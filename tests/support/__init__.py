"""Test support shared by every kind of test; test modules import from here, never each other.

- `events`: sample profile events in, dead letters out.
- `inprocess`: settings and source factories for running the daemon in-process.
- `fakes`: the scripted in-memory `KinesisClient` (pipeline tests fake at the client seam).
- `shards`: entries of exact sizes and evenly split shard maps (unit tests of the pure cores).
- `processes`: `streamer` as a subprocess against a real server (integration tests).

Fixtures live in the `conftest.py` of the tests that use them, not here.
"""
