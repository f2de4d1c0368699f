"""botocore's data loader, limited to the daemon's services: the same search paths and the same
models as botocore's own loader, without listing every service botocore ships."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import UnknownServiceError

from streamer.aws.client import our_services_loader


def test_it_knows_only_our_services_in_the_sessions_search_paths() -> None:
    session = AioSession()
    loader = our_services_loader(session)
    assert loader.search_paths == session.get_component("data_loader").search_paths
    assert loader.list_available_services("service-2") == ["kinesis", "sts"]
    with pytest.raises(UnknownServiceError):
        loader.load_service_model("s3", "service-2")


def test_it_loads_the_same_kinesis_model_without_listing_every_service() -> None:
    """Loading Kinesis's model reads Kinesis's own directory, not each service's."""
    session = AioSession()
    ours, theirs = our_services_loader(session), session.get_component("data_loader")
    with mock.patch("os.listdir", wraps=os.listdir) as listed:
        model = ours.load_service_model("kinesis", "service-2")
    assert model == theirs.load_service_model("kinesis", "service-2")
    assert listed.call_count <= 2 * len(ours.search_paths)


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
    loader = our_services_loader(AioSession())
    assert loader.search_paths[0] == str(tmp_path)
    loaded = loader.load_service_model("kinesis", "service-2")
    assert loaded["metadata"]["serviceId"] == "Kinesis from AWS_DATA_PATH"
