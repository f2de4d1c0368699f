"""botocore's data loader, answering "is there such a service?" from that service's directory.

What it does: before loading a model, botocore checks the service's name against the list of
every service it ships, which it builds by listing each of some 400 directories, once per kind
of model (Kinesis's API and its endpoint rules: about 870 directory reads at start-up, 20-30 ms
of CPU). `DirectLoader` gives botocore a list that answers `in` by looking in the one service's
own directories, in the same search paths (AWS_DATA_PATH first, as botocore orders them), so
any service botocore asks for (Kinesis; STS, SSO, SSO-OIDC or sign-in for a credential chain) is
found exactly when botocore's own list would have it. The full list is still built, by botocore,
if something iterates it (botocore names the known services in an unknown-service error).

What it leaves out: loading itself (botocore's), and which services a run uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, overload

from botocore.loaders import Loader


class ServiceNames(Sequence[str]):
    """The services `loader` has models of kind `type_name` for: membership by one service's
    directories, the whole list (botocore's) only when iterated or indexed."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name
        self._all: list[str] | None = None

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            return False
        return any(self._in(path, name) for path in self._loader.search_paths)

    def _in(self, path: str, name: str) -> bool:
        """botocore's test: some API version directory of the service holds a model file."""
        directory = os.path.join(path, name)
        if not os.path.isdir(directory):
            return False
        exists = self._loader.file_loader.exists
        return any(
            exists(os.path.join(directory, version, self._type_name))
            for version in os.listdir(directory)
        )

    def _listed(self) -> list[str]:
        if self._all is None:
            self._all = list(Loader.list_available_services(self._loader, self._type_name))
        return self._all

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._listed()[index]

    def __len__(self) -> int:
        return len(self._listed())

    def __iter__(self) -> Iterator[str]:
        return iter(self._listed())


class DirectLoader(Loader):  # type: ignore[misc]
    """botocore's `Loader`, whose list of services answers `in` without listing them all."""

    def list_available_services(self, type_name: str) -> ServiceNames:
        return ServiceNames(self, type_name)


def direct_loader(session: Any) -> DirectLoader:
    """A `DirectLoader` with the search paths of `session`'s own data loader."""
    default = session.get_component("data_loader")
    return DirectLoader(list(default.search_paths), include_default_search_paths=False)
