"""The README's TOML examples are valid configs: every block loads with the real loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamer import config

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```toml\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_toml_examples() -> None:
    """The config examples are found (so the next test checks something)."""
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS)
def test_each_readme_toml_block_loads(block: str, tmp_path: Path) -> None:
    """A reader copying a README example gets a config the daemon accepts."""
    path = tmp_path / "streamer.toml"
    path.write_text(block)
    flags = {} if re.search(r"^stream(_arn)? =", block, re.M) else {"stream": "s", "region": "r"}
    settings = config.load(path, flags)
    assert settings.stream_name
