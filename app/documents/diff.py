"""RFC 6902 JSON Patch between two JSON documents, and RFC 6901 JSON pointers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def pointer(parts: Iterable[Any]) -> str:
    """Return the RFC 6901 JSON pointer of a path of keys and indexes ("" is the root)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def same(a: Any, b: Any) -> bool:
    """Tell whether two JSON values are equal as JSON: `1`, `1.0` and `true` all differ."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(value, b[key]) for key, value in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float):
        return repr(a) == repr(b)  # -0.0 is not 0.0 in JSON text
    return bool(a == b)


def diff(source: Any, target: Any) -> list[dict[str, Any]]:
    """Return a JSON Patch that turns `source` into `target` (`[]` when they are the same)."""
    operations: list[dict[str, Any]] = []
    _diff(source, target, "", operations)
    return operations


def _diff(source: Any, target: Any, path: str, out: list[dict[str, Any]]) -> None:
    if isinstance(source, dict) and isinstance(target, dict):
        _diff_objects(source, target, path, out)
    elif isinstance(source, list) and isinstance(target, list):
        _diff_arrays(source, target, path, out)
    elif not same(source, target):
        out.append({"op": "replace", "path": path, "value": target})


def _diff_objects(source: dict, target: dict, path: str, out: list[dict[str, Any]]) -> None:
    for key, value in source.items():
        if key not in target:
            out.append({"op": "remove", "path": path + pointer([key])})
        else:
            _diff(value, target[key], path + pointer([key]), out)
    for key, value in target.items():
        if key not in source:
            out.append({"op": "add", "path": path + pointer([key]), "value": value})


def _diff_arrays(source: list, target: list, path: str, out: list[dict[str, Any]]) -> None:
    """Compare by index: shared indexes recurse, then the tail is removed or appended.

    Not minimal for insertions in the middle, but always correct and linear in size.
    """
    shared = min(len(source), len(target))
    for index in range(shared):
        _diff(source[index], target[index], f"{path}/{index}", out)
    for index in range(len(source) - 1, shared - 1, -1):  # from the end: indexes stay valid
        out.append({"op": "remove", "path": f"{path}/{index}"})
    for index in range(shared, len(target)):
        out.append({"op": "add", "path": f"{path}/{index}", "value": target[index]})
