"""The typed shapes the exporter decodes lines into.

What it does: declares, as msgspec structs, what `export.py` validates on the hot path: an
identity (a non-empty string `id`), a segment qualification (`lastQualificationTime` and a
known `status`), and the top level of a line (`identityMap` and `segmentMembership`), in a loose
form (unknown fields skipped without being parsed) and an exact one (a qualification holding
anything else is not the export's own shape).

What it leaves out: the decoders and what a decoded line becomes (`export.py`, compiled with mypyc
where built: msgspec decodes only into structs defined by interpreted modules, so the shapes
live here).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


# Unknown fields are skipped without being parsed.
class Identity(msgspec.Struct, gc=False):
    id: Annotated[str, msgspec.Meta(min_length=1)]


class Qualification(msgspec.Struct, gc=False):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class Membership(msgspec.Struct, gc=False):
    ups: dict[str, Qualification] | None = None


# The same, refusing any other field: a line that decodes as `Head` is its own export record
# when every attribute and every segment is exported without decorations.
class ExactQualification(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class ExactMembership(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    ups: dict[str, ExactQualification] | None = None


class Head(msgspec.Struct, gc=False):
    identityMap: dict[str, list[Identity]] | None = None
    segmentMembership: ExactMembership | None = None
