"""The typed shapes the export decodes on its hot path, as msgspec structs.

What it does: declares the structs msgspec decodes a line's `identityMap` and
`segmentMembership` into (validated in C; unknown fields skipped without being parsed), and the
exact variants that refuse any other field: a line that decodes as `Head` is its own export
record when every attribute and every segment is exported without decorations.

What it leaves out: decoding and everything done with the result (`streamer.export`). This
module stays interpreted when `export.py` is compiled with mypyc: msgspec cannot decode into
struct classes defined in a compiled module.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


class Identity(msgspec.Struct, gc=False):
    id: Annotated[str, msgspec.Meta(min_length=1)]


class Qualification(msgspec.Struct, gc=False):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class Membership(msgspec.Struct, gc=False):
    ups: dict[str, Qualification] | None = None


class ExactQualification(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    lastQualificationTime: str
    status: Literal["realized", "existing", "exited"]


class ExactMembership(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    ups: dict[str, ExactQualification] | None = None


class Head(msgspec.Struct, gc=False):
    identityMap: dict[str, list[Identity]] | None = None
    segmentMembership: ExactMembership | None = None
