"""JSON Schema (draft 2020-12) for configurations: check a schema, list a config's violations.

Nothing is ever fetched: every `$ref` must resolve inside the schema itself, which is
checked when the schema is set. `format` is an annotation, not asserted (the draft's
default); `pattern` is a Python regular expression.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from marshmallow import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource, Unresolvable
from referencing.jsonschema import DRAFT202012, UnknownDialect

from app.jsondiff import pointer
from app.schema_keywords import false_spelled_out
from app.schemas.common import check_json_document

MAX_SCHEMA_BYTES = 256 * 1024  # as compact JSON
MAX_MESSAGE = 300  # jsonschema's messages quote the offending value, which may be large
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF_KEYWORDS = ("$ref", "$dynamicRef")
UNUSABLE = "The schema cannot be applied: a reference loops without end or does not resolve."
# What resolving a reference, or validating through one, raises for a schema we refuse.
_BROKEN = (Unresolvable, UnknownDialect, LookupError, ValueError, TypeError, RecursionError)


def _refuse(uri: str) -> Resource:
    """Never fetch: a reference to anything outside the schema stays unresolved."""
    raise NoSuchResource(ref=uri)


REGISTRY: Registry = Registry(retrieve=_refuse)  # type: ignore[call-arg]


def check_schema(schema: Any) -> None:
    """Raise ValidationError unless `schema` is a usable, self-contained draft 2020-12 schema."""
    if not isinstance(schema, (dict, bool)):
        raise ValidationError("Must be a JSON Schema: an object or a boolean.")
    check_json_document(schema)  # the depth and text rules of a config
    problem = _problem(_canonical(schema))
    if problem:
        raise ValidationError(problem)


def _canonical(schema: Any) -> str:
    """Return a schema's JSON text, the same for equal schemas: the key of the caches."""
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


@lru_cache(maxsize=64)  # an import checks the same few schemas again and again
def _problem(schema_json: str) -> str | None:
    if len(schema_json) > MAX_SCHEMA_BYTES:
        return f"Must be at most {MAX_SCHEMA_BYTES} bytes as JSON."
    schema = json.loads(schema_json)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return f"{pointer(exc.path)}: {exc.message}"
    resource = DRAFT202012.create_resource(schema)
    base = resource.id() or ""
    resolver = REGISTRY.with_resource(base, resource).resolver(base_uri=base)
    return _subschema_problem(resource, resolver, dict(_locations(schema)))


def _locations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Map each object and array of a document (by identity) to its path."""
    if isinstance(value, (dict, list)):
        yield id(value), path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _locations(item, (*path, key))


def _subschema_problem(resource: Resource, resolver: Any, paths: dict[int, tuple]) -> str | None:
    """Name another dialect, or a $ref / $dynamicRef that does not resolve locally."""
    contents, path = resource.contents, paths.get(id(resource.contents), ())
    if isinstance(contents, dict):
        if contents.get("$schema", DIALECT).rstrip("#") != DIALECT:
            return f"{pointer([*path, '$schema'])}: Only {DIALECT} is supported."
        for keyword in _REF_KEYWORDS:
            ref = contents.get(keyword)
            try:
                if isinstance(ref, str):
                    resolver.lookup(ref)
            except _BROKEN:
                return (
                    f"{pointer([*path, keyword])}: Cannot resolve {ref!r}; a reference must "
                    "point inside the schema (nothing is fetched)."
                )
    for subresource in resource.subresources():
        problem = _subschema_problem(subresource, resolver.in_subresource(subresource), paths)
        if problem:
            return problem
    return None


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    schema = json.loads(schema_json)
    return Draft202012Validator(false_spelled_out(schema, keep_false=True), registry=REGISTRY)


def _message(error: Any) -> str:
    """Word an error of a spelled-out false subschema as jsonschema words `false`."""
    if error.validator == "not" and error.validator_value == {}:
        return f"False schema does not allow {error.instance!r}"
    return error.message


def violations(config: Any, schema: Any) -> list[tuple[str, str]]:
    """Return every (JSON pointer, message) by which `config` breaks `schema`, in order."""
    if schema is None:
        return []
    validator = _validator(_canonical(schema))
    try:
        found = [
            (pointer(e.absolute_path), _short(_message(e))) for e in validator.iter_errors(config)
        ]
    except _BROKEN:  # e.g. {"$ref": "#"}, which refers to itself without end
        raise ValidationError({"schema": [UNUSABLE]}) from None
    return sorted(set(found))


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def check_config(config: Any, schema: Any) -> None:
    """Raise ValidationError with `errors.config` listing each violation of `schema`."""
    found = violations(config, schema)
    if found:
        raise ValidationError({"config": [f"{where}: {message}" for where, message in found]})
