"""The direct route (`aws/route.py`): taken exactly when nothing only botocore knows matters, and
then to the URL botocore itself resolves for the region."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import botocore.session
import pytest

from streamer.aws.route import (
    BOTOCORE_ONLY_ENV,
    StaticCredentials,
    botocore_partitions,
    config_file,
    direct_route,
    dns_suffix,
)
from streamer.kinesis import AwsSettings

KEYS = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
BASE = AwsSettings(stream="s", region="eu-west-1", endpoint_url="http://127.0.0.1:9")


def test_keys_from_the_environment_and_a_given_endpoint() -> None:
    """Environment keys (and token) and the given endpoint make the route."""
    route = direct_route(BASE, {**KEYS, "AWS_SESSION_TOKEN": "tok"}, config_exists=False)
    assert route is not None
    assert route.url == "http://127.0.0.1:9"
    assert route.credentials == StaticCredentials("AKIDENV", "env-secret", "tok")


def test_keys_in_the_settings_come_before_the_environment() -> None:
    """Keys given in the config file or flags are used, as botocore's explicit credentials are."""
    s = replace(BASE, access_key_id="AKIDCFG", secret_access_key="cfg-secret")
    route = direct_route(s, KEYS, config_exists=False)
    assert route is not None
    assert route.credentials == StaticCredentials("AKIDCFG", "cfg-secret", None)


def test_the_older_token_variable_is_read() -> None:
    """AWS_SECURITY_TOKEN is botocore's fallback name for the session token."""
    route = direct_route(BASE, {**KEYS, "AWS_SECURITY_TOKEN": "old"}, config_exists=False)
    assert route is not None
    assert route.credentials.token == "old"


@pytest.mark.parametrize(
    ("change", "environ"),
    [
        ({"transport": "botocore"}, KEYS),
        ({"profile": "p"}, KEYS),
        ({"role_arn": "arn:aws:iam::123456789012:role/r"}, KEYS),
        ({}, {}),
        ({}, {"AWS_ACCESS_KEY_ID": "only-half"}),
        ({"access_key_id": "AKID"}, KEYS),
        ({"region": "not a region!"}, KEYS),
    ],
)
def test_runs_that_need_botocore(change: dict[str, str], environ: dict[str, str]) -> None:
    """A botocore transport, a profile, a role, missing or half keys, or a region botocore
    would refuse: no direct route (botocore resolves or says why)."""
    s = replace(BASE, **change)  # type: ignore[arg-type]
    assert direct_route(s, environ, config_exists=False) is None


@pytest.mark.parametrize("name", BOTOCORE_ONLY_ENV)
def test_each_botocore_setting_in_the_environment_needs_botocore(name: str) -> None:
    """Any variable that changes botocore's profile, credentials, endpoint or models."""
    assert direct_route(BASE, {**KEYS, name: "x"}, config_exists=False) is None
    assert direct_route(BASE, {**KEYS, name: ""}, config_exists=False) is not None


def test_an_existing_config_file_needs_botocore(tmp_path: Path) -> None:
    """An AWS config file may name endpoints, FIPS or a CA bundle; one that does not exist
    names nothing."""
    assert direct_route(BASE, KEYS, config_exists=True) is None
    missing = {**KEYS, "AWS_CONFIG_FILE": str(tmp_path / "none")}
    assert not config_file(missing).is_file()
    (tmp_path / "config").write_text("[default]\n")
    assert config_file({"AWS_CONFIG_FILE": str(tmp_path / "config")}).is_file()
    assert config_file({}) == Path("~/.aws/config").expanduser()


def test_a_stream_arn_without_an_endpoint_needs_botocore() -> None:
    """botocore sends a stream named by ARN to an account endpoint: left to it."""
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
    s = replace(BASE, endpoint_url=None, stream_arn=arn)
    assert direct_route(s, KEYS, config_exists=False) is None
    assert direct_route(replace(s, endpoint_url="http://h"), KEYS, config_exists=False)


def test_a_region_no_partition_claims_needs_botocore() -> None:
    s = replace(BASE, endpoint_url=None, region="zz-nowhere-9")
    assert direct_route(s, KEYS, config_exists=False) is None


def _regions() -> list[str]:
    listed = [r for p in botocore_partitions() for r in p["regions"] if not r.endswith("global")]
    return [*listed, "us-west-7", "ap-southeast-9", "cn-south-3", "eusc-de-west-4"]


@pytest.mark.parametrize("region", _regions())
def test_the_standard_endpoint_is_botocores(
    region: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """For every region botocore lists (and unlisted ones its patterns claim), the URL is the
    one botocore's own endpoint rules resolve for a Kinesis client."""
    for name in BOTOCORE_ONLY_ENV:  # botocore itself with no setting of its own
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    s = replace(BASE, endpoint_url=None, region=region)
    route = direct_route(s, KEYS, config_exists=False)
    assert route is not None
    session = botocore.session.Session()
    client = session.create_client(
        "kinesis", region_name=region, aws_access_key_id="a", aws_secret_access_key="b"
    )
    assert route.url == client.meta.endpoint_url


def test_partitions_are_read_from_the_installed_botocore() -> None:
    """botocore's partitions.json is found and read without importing botocore's client."""
    partitions = botocore_partitions()
    assert {p["id"] for p in partitions} >= {"aws", "aws-cn", "aws-us-gov"}
    assert dns_suffix("cn-north-1", partitions) == "amazonaws.com.cn"
    assert dns_suffix("nowhere", partitions) is None


def test_credentials_never_show_the_secret() -> None:
    text = repr(StaticCredentials("AKIDEXAMPLE", "very-secret", "token"))
    assert "very-secret" not in text
    assert "token" not in text
