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
    any_aws_file,
    aws_files,
    botocore_partitions,
    direct_route,
    dns_suffix,
    plain_endpoint,
)
from streamer.kinesis import AwsSettings

KEYS = {"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "env-secret"}
BASE = AwsSettings(stream="s", region="eu-west-1", endpoint_url="http://127.0.0.1:9")


def test_keys_from_the_environment_and_a_given_endpoint() -> None:
    """Environment keys (and token) and the given endpoint make the route."""
    route = direct_route(BASE, {**KEYS, "AWS_SESSION_TOKEN": "tok"}, files_exist=False)
    assert route is not None
    assert route.url == "http://127.0.0.1:9"
    assert route.credentials == StaticCredentials("AKIDENV", "env-secret", "tok")


def test_keys_in_the_settings_come_before_the_environment() -> None:
    """Keys given in the config file or flags are used, as botocore's explicit credentials are."""
    s = replace(BASE, access_key_id="AKIDCFG", secret_access_key="cfg-secret")
    route = direct_route(s, KEYS, files_exist=False)
    assert route is not None
    assert route.credentials == StaticCredentials("AKIDCFG", "cfg-secret", None)


def test_the_older_token_variable_is_read_first_as_botocore_does() -> None:
    """AWS_SECURITY_TOKEN is read, and before AWS_SESSION_TOKEN (botocore's order)."""
    route = direct_route(BASE, {**KEYS, "AWS_SECURITY_TOKEN": "old"}, files_exist=False)
    assert route is not None
    assert route.credentials.token == "old"
    both = {**KEYS, "AWS_SECURITY_TOKEN": "old", "AWS_SESSION_TOKEN": "new"}
    route = direct_route(BASE, both, files_exist=False)
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
    assert direct_route(s, environ, files_exist=False) is None


@pytest.mark.parametrize("name", BOTOCORE_ONLY_ENV)
def test_each_botocore_setting_in_the_environment_needs_botocore(name: str) -> None:
    """Any variable that changes botocore's profile, credentials, endpoint or models."""
    assert direct_route(BASE, {**KEYS, name: "x"}, files_exist=False) is None
    assert direct_route(BASE, {**KEYS, name: ""}, files_exist=False) is not None


def test_an_existing_aws_file_needs_botocore(tmp_path: Path) -> None:
    """The config file or the shared credentials file may name endpoints, FIPS or a CA bundle
    (botocore reads settings from both); files that do not exist name nothing."""
    assert direct_route(BASE, KEYS, files_exist=True) is None
    none = {
        "AWS_CONFIG_FILE": str(tmp_path / "a"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "b"),
    }
    assert not any_aws_file(none)
    (tmp_path / "b").write_text("[default]\nendpoint_url = http://127.0.0.1:9\n")
    assert any_aws_file(none)
    (tmp_path / "b").unlink()
    (tmp_path / "a").write_text("[default]\n")
    assert any_aws_file(none)


def test_aws_files_are_found_as_botocore_finds_them(tmp_path: Path) -> None:
    """Defaults under the home directory; variables in the paths expanded, then `~`."""
    home = {"HOME": str(tmp_path)}
    assert aws_files(home) == (tmp_path / ".aws/config", tmp_path / ".aws/credentials")
    named = {**home, "DIR": "/etc/aws", "AWS_CONFIG_FILE": "$DIR/config"}
    named["AWS_SHARED_CREDENTIALS_FILE"] = "~/${DIR}/creds"
    assert aws_files(named) == (Path("/etc/aws/config"), tmp_path / "etc/aws/creds")
    assert aws_files({**home, "AWS_CONFIG_FILE": "$UNSET/c"})[0] == Path("$UNSET/c")


@pytest.mark.parametrize(
    ("url", "plain"),
    [
        ("http://127.0.0.1:4567", True),
        ("https://kinesis.eu-west-1.amazonaws.com/", True),
        ("https://kinesis.example.com./base/path", True),
        ("http://[::1]:9", True),
        ("http://", False),
        ("http://[::1", False),
        ("http://h:port", False),
        ("http://user:pw@127.0.0.1:9", False),
        ("ftp://127.0.0.1:9", False),
        ("http://h/?x=1", False),
        ("http://h\n", False),
        ("http://-bad-.example.com", False),
    ],
)
def test_odd_endpoints_are_left_to_botocore(url: str, plain: bool) -> None:
    """An endpoint botocore would refuse or read its own way goes to botocore, which says
    what is wrong with it (as before the direct route existed)."""
    assert plain_endpoint(url) is plain
    route = direct_route(replace(BASE, endpoint_url=url), KEYS, files_exist=False)
    assert (route is not None) is plain


def test_a_stream_arn_without_an_endpoint_needs_botocore() -> None:
    """botocore sends a stream named by ARN to an account endpoint: left to it."""
    arn = "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
    s = replace(BASE, endpoint_url=None, stream_arn=arn)
    assert direct_route(s, KEYS, files_exist=False) is None
    assert direct_route(replace(s, endpoint_url="http://h"), KEYS, files_exist=False)


def test_a_region_no_partition_claims_needs_botocore() -> None:
    s = replace(BASE, endpoint_url=None, region="zz-nowhere-9")
    assert direct_route(s, KEYS, files_exist=False) is None


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
    route = direct_route(s, KEYS, files_exist=False)
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
