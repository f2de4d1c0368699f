"""Process tuning: the glibc arena cap and heap pad are accepted where glibc is the C library."""

from __future__ import annotations

import platform

import pytest

from streamer import runtime


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_arena_cap() -> None:
    """mallopt(M_ARENA_MAX, 2) returns success on glibc."""
    assert runtime.cap_malloc_arenas() is True


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_accepts_the_heap_pad() -> None:
    """mallopt(M_TOP_PAD, 16 MiB) returns success on glibc."""
    assert runtime.pad_heap() is True
