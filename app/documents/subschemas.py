"""Walk a schema's subschemas: refuse other dialects, outside refs, patterns, loops, fan-out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from referencing import Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import UnknownDialect

from app.documents import patterns, refs
from app.documents.diff import pointer

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF_KEYWORDS = ("$ref", "$dynamicRef")
# What resolving a reference, or validating through one, raises for a schema we refuse.
BROKEN = (Unresolvable, UnknownDialect, LookupError, ValueError, TypeError, RecursionError)


def problem(resource: Resource, resolver: Any) -> str | None:
    """Return what makes the schema of `resource` unusable, or None."""
    nodes: dict[int, tuple[dict, str, Any]] = {}
    found = _subschema_problem(resource, resolver, dict(_locations(resource.contents)), nodes)
    return found or refs.first_problem(_edges(nodes), {k: v[1] for k, v in nodes.items()})


def _locations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Map each object and array of a document (by identity) to its path."""
    if isinstance(value, (dict, list)):
        yield id(value), path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _locations(item, (*path, key))


def _subschema_problem(
    resource: Resource, resolver: Any, paths: dict[int, tuple], nodes: dict[int, tuple]
) -> str | None:
    """Name another dialect, a reference that does not resolve locally, or a refused pattern."""
    contents, path = resource.contents, paths.get(id(resource.contents), ())
    if isinstance(contents, dict):
        nodes[id(contents)] = (contents, pointer(path), resolver)
        if contents.get("$schema", DIALECT).rstrip("#") != DIALECT:
            return f"{pointer([*path, '$schema'])}: Only {DIALECT} is supported."
        problem = _ref_problem(contents, path, resolver) or _pattern_problem(contents, path)
        if problem:
            return problem
    for subresource in resource.subresources():
        found = _subschema_problem(subresource, resolver.in_subresource(subresource), paths, nodes)
        if found:
            return found
    return None


def _ref_problem(contents: dict, path: tuple, resolver: Any) -> str | None:
    for keyword in _REF_KEYWORDS:
        ref = contents.get(keyword)
        try:
            if isinstance(ref, str):
                resolver.lookup(ref)
        except BROKEN:
            return (
                f"{pointer([*path, keyword])}: Cannot resolve {ref!r}; a reference must "
                "point inside the schema (nothing is fetched)."
            )
    return None


def _pattern_problem(contents: dict, path: tuple) -> str | None:
    found: list[tuple[tuple[str, ...], Any]] = [(("pattern",), contents.get("pattern"))]
    found += [(("patternProperties", key), key) for key in contents.get("patternProperties", {})]
    for where, regex in found:
        try:
            if isinstance(regex, str):
                patterns.check(regex)
        except patterns.PatternError as exc:
            return (
                f"{pointer([*path, *where])}: {regex!r} is not a 'regex' the service accepts: {exc}"
            )
    return None


def _edges(nodes: dict[int, tuple[dict, str, Any]]) -> dict[int, list[dict]]:
    """Map each subschema to those it applies to the same value, references followed."""
    dynamic: dict[str, list[dict]] = {}
    for contents, _, _ in nodes.values():
        if isinstance(contents.get("$dynamicAnchor"), str):
            dynamic.setdefault(contents["$dynamicAnchor"], []).append(contents)

    def edges_of(contents: dict, resolver: Any) -> list[dict]:
        def resolve(keyword: str, ref: str) -> list[Any]:
            found = [resolver.lookup(ref).contents]
            if keyword == "$dynamicRef":  # may land on any same-named $dynamicAnchor
                found += dynamic.get(ref.partition("#")[2], [])
            return found

        return refs.in_place(contents, resolve)

    return {key: edges_of(contents, resolver) for key, (contents, _, resolver) in nodes.items()}
