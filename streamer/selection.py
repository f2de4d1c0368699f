"""Selected attribute paths: the dotted paths as a tree, and two ways to pick them from a line.

What it does: `path_tree` turns dotted paths into a nested tree (a shorter path selects the whole
subtree). `Selection` builds, once per activation, a msgspec struct type whose fields are the
selected paths, so decoding a line into it skips everything else in C and keeps the selected
values as the input's own bytes (`msgspec.Raw`); `prune` then drops nested objects in which
nothing was found. `select_raw` picks the same paths from a top-level dict of raw values,
descending into raw objects only along the selected paths; it serves lines the struct refuses.

What it leaves out: validation of the export's own fields, encoding, and what to do with a
line that does not decode (the caller decides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

UNSET: Final = msgspec.UNSET
_decode_object = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode

PathTree = dict[str, "PathTree | None"]


def path_tree(paths: Iterable[str]) -> PathTree:
    """Turn dotted paths into a nested selection tree; a leaf (None) selects the whole value."""
    tree: PathTree = {}
    for path in paths:
        node = tree
        parts = path.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = None
                break
            child = node.get(part, {})
            if child is None:  # a shorter path already selects the whole subtree
                break
            node[part] = child
            node = child
    return tree


def select_raw(obj: Mapping[str, msgspec.Raw], tree: PathTree) -> dict[str, Any]:
    """Pick the selected paths out of a decoded object, descending into raw objects as needed."""
    out: dict[str, Any] = {}
    for key, sub in tree.items():
        value = obj.get(key)
        if value is None:
            continue
        if sub is None:
            out[key] = value
            continue
        try:
            inner = _decode_object(value)
        except msgspec.ValidationError:  # not an object: nothing below it to select
            continue
        picked = select_raw(inner, sub)
        if picked:
            out[key] = picked
    return out


class Selection:
    """The selected paths as a msgspec struct type: decoding a line into it keeps only them.

    Each selected top-level attribute is a field (renamed from `f0`, `f1`, ...), a `Raw` when the
    whole value is selected, a nested struct of the same kind when only paths below it are; then
    the `tail` fields (name and type, in order), which the selection itself never holds. A line
    where a path runs into a value that is not an object fails to decode.
    """

    __slots__ = ("_nested", "decode")

    def __init__(self, tree: PathTree, tail: list[tuple[str, Any]]) -> None:
        names = {name for name, _ in tail}
        fields = {k: v for k, v in tree.items() if k not in names}
        struct, self._nested = _struct_of(fields, "Selected")
        extra = [(name, kind | msgspec.UnsetType, UNSET) for name, kind in tail]
        top = msgspec.defstruct(
            "SelectedRecord", extra, bases=(struct,), gc=False, rename=_renames(fields)
        )
        self.decode = msgspec.json.Decoder(top).decode

    @classmethod
    def of(cls, tree: PathTree, tail: list[tuple[str, Any]]) -> Selection | None:
        """The selection's struct, or None when a name cannot be a field's JSON name (quotes,
        backslashes, control characters): such selections take the general path."""
        try:
            return cls(tree, tail)
        except ValueError:
            return None

    def prune(self, picked: Any) -> None:
        """Unset nested objects in which nothing was found, as if they were not selected."""
        _prune(picked, self._nested)


_Nested = list[tuple[str, "_Nested", msgspec.Struct]]
"""Per nested field: its attribute, its own nested fields, and its empty value."""


def _renames(tree: PathTree) -> dict[str, str]:
    return {f"f{i}": key for i, key in enumerate(tree)}


def _struct_of(tree: PathTree, name: str) -> tuple[type[msgspec.Struct], _Nested]:
    fields: list[tuple[str, Any, Any]] = []
    nested: _Nested = []
    for i, sub in enumerate(tree.values()):
        if sub is None:
            fields.append((f"f{i}", msgspec.Raw | msgspec.UnsetType, UNSET))
        else:
            inner, inner_nested = _struct_of(sub, f"{name}{i}")
            fields.append((f"f{i}", inner | msgspec.UnsetType, UNSET))
            nested.append((f"f{i}", inner_nested, inner()))
    struct = msgspec.defstruct(name, fields, gc=False, rename=_renames(tree))
    return struct, nested


def _prune(obj: Any, nested: _Nested) -> None:
    """Unset the nested structs below `obj` in which nothing was found (innermost first)."""
    for attr, inner, empty in nested:
        value = getattr(obj, attr)
        if value is not UNSET:
            if inner:
                _prune(value, inner)
            if value == empty:  # every field unset; compared in C
                setattr(obj, attr, UNSET)
