"""botocore's data loader, looking a service up in its own directory: the same search paths, the
same answers and the same models as botocore's own loader, for every service botocore may ask
for (a credential chain creates STS, SSO, SSO-OIDC or sign-in clients), without listing every
service botocore ships."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import UnknownServiceError

from streamer.aws.loader import direct_loader

CREDENTIAL_CHAIN_SERVICES = ("sts", "sso", "sso-oidc", "signin")
"""The clients botocore's credential chain may create (`signin` only in recent botocore)."""


def test_it_searches_the_sessions_paths() -> None:
    session = AioSession()
    loader = direct_loader(session)
    assert loader.search_paths == session.get_component("data_loader").search_paths


@pytest.mark.parametrize("type_name", ["service-2", "endpoint-rule-set-1"])
def test_it_knows_what_botocore_knows(type_name: str) -> None:
    """Every service botocore lists is `in` the answer, and a few that do not exist are not;
    iterated, the answer is botocore's own list."""
    session = AioSession()
    ours = direct_loader(session).list_available_services(type_name)
    theirs = session.get_component("data_loader").list_available_services(type_name)
    assert {"kinesis", "sts", "sso", "sso-oidc"} <= set(theirs)
    assert all(name in ours for name in theirs)
    for absent in ("no-such-service", "", ".", "..", "kinesis/2013-12-02", 7):
        assert absent not in ours
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)
    assert ours[0] == theirs[0]


def test_it_loads_the_same_kinesis_model_without_listing_every_service() -> None:
    """Loading Kinesis's model reads Kinesis's own directories, not each service's."""
    session = AioSession()
    ours, theirs = direct_loader(session), session.get_component("data_loader")
    with mock.patch("os.listdir", wraps=os.listdir) as listed:
        model = ours.load_service_model("kinesis", "service-2")
    assert model == theirs.load_service_model("kinesis", "service-2")
    assert listed.call_count <= 3 * len(ours.search_paths)


def test_an_unknown_service_is_refused_as_botocore_refuses_it() -> None:
    with pytest.raises(UnknownServiceError, match="kinesis"):  # the message lists known ones
        direct_loader(AioSession()).load_service_model("no-such-service", "service-2")


@pytest.mark.parametrize("service", ["kinesis", *CREDENTIAL_CHAIN_SERVICES])
async def test_the_credential_chains_clients_can_be_made(service: str) -> None:
    """A profile with SSO, a role or a sign-in session makes botocore create these clients
    from the daemon's session: each is found and made with the loader in place."""
    session = AioSession()
    if service not in session.get_component("data_loader").list_available_services("service-2"):
        pytest.skip(f"this botocore has no {service} client")
    session.register_component("data_loader", direct_loader(session))
    async with session.create_client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    ) as client:
        assert client.meta.service_model.service_name == service


def test_a_data_path_of_the_users_is_still_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AWS_DATA_PATH (botocore's `data_path`) comes first, as in botocore's own loader."""
    version = tmp_path / "kinesis" / "2013-12-02"
    version.mkdir(parents=True)
    builtin = AioSession().get_component("data_loader")
    model: dict[str, Any] = builtin.load_service_model("kinesis", "service-2")
    model["metadata"]["serviceId"] = "Kinesis from AWS_DATA_PATH"
    (version / "service-2.json").write_text(json.dumps(model))
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    loader = direct_loader(AioSession())
    assert loader.search_paths[0] == str(tmp_path)
    loaded = loader.load_service_model("kinesis", "service-2")
    assert loaded["metadata"]["serviceId"] == "Kinesis from AWS_DATA_PATH"
