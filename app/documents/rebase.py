"""Carrying one set of changes onto a document someone else changed meanwhile: the places
two JSON Patches (from the same base) both touch, and applying one onto the other's result."""

from __future__ import annotations

import copy
import re
from typing import Any

_INDEX = re.compile(r"0|[1-9][0-9]*")  # an array index in a pointer (ASCII digits only)


class PatchConflict(Exception):
    """A patch operation's place does not exist in the document it is applied to."""


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _tokens(where: str) -> list[str]:
    return [_unescape(token) for token in where.split("/")[1:]]


def touched(operation: dict[str, Any], base: Any) -> str:
    """Return the place an operation changes: its path, or the array holding it (changes
    inside one array are compared as a whole: their indexes shift with each other's)."""
    node, kept = base, ""
    for token in _tokens(operation["path"]):
        if isinstance(node, list):
            return kept
        kept += "/" + token.replace("~", "~0").replace("/", "~1")
        node = node.get(token) if isinstance(node, dict) else None
    return kept


def overlap(theirs: list[dict], mine: list[dict], base: Any) -> list[str]:
    """Return the places both patches change (one's place at or inside the other's)."""
    ours = {touched(op, base) for op in mine}
    common = set()
    for place in {touched(op, base) for op in theirs}:
        for other in ours:
            if _within(place, other) or _within(other, place):
                common.add(min(place, other, key=len))
    return sorted(common)


def _within(inner: str, outer: str) -> bool:
    return inner == outer or inner.startswith(outer + "/") or outer == ""


def apply(document: Any, patch: list[dict[str, Any]]) -> Any:
    """Return the document with an add / remove / replace patch applied (a copy)."""
    result = copy.deepcopy(document)
    for operation in patch:
        tokens = _tokens(operation["path"])
        if not tokens:
            result = copy.deepcopy(operation["value"])
            continue
        parent = _parent(result, tokens[:-1])
        _change(parent, tokens[-1], operation)
    return result


def _parent(document: Any, tokens: list[str]) -> Any:
    node = document
    for token in tokens:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and _INDEX.fullmatch(token) and int(token) < len(node):
            node = node[int(token)]
        else:
            raise PatchConflict(token)
    return node


def _change(parent: Any, token: str, operation: dict[str, Any]) -> None:
    op = operation["op"]
    if isinstance(parent, dict):
        if op == "remove":
            parent.pop(token, None)
        else:
            parent[token] = copy.deepcopy(operation["value"])
        return
    if not (isinstance(parent, list) and _INDEX.fullmatch(token) and int(token) <= len(parent)):
        raise PatchConflict(token)
    index = int(token)
    if op == "add":
        parent.insert(index, copy.deepcopy(operation["value"]))
    elif index < len(parent):
        if op == "remove":
            del parent[index]
        else:
            parent[index] = copy.deepcopy(operation["value"])
    else:
        raise PatchConflict(token)


def at(document: Any, where: str) -> Any:
    """Return the value at a JSON pointer (PatchConflict when there is none)."""
    tokens = _tokens(where)
    if not tokens:
        return document
    parent = _parent(document, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and _INDEX.fullmatch(last) and int(last) < len(parent):
        return parent[int(last)]
    raise PatchConflict(last)
