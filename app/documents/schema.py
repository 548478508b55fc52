"""JSON Schema (draft 2020-12) for configurations: check a schema, list a config's violations.

Nothing is ever fetched: every `$ref` must resolve inside the schema itself, which is
checked when the schema is set. `format` is an annotation, not asserted (the draft's
default); `pattern` is an RE2 expression (see patterns.py). Every check runs within a CPU
budget, SCHEMA_CHECK_BUDGET_MS (see budget.py).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import current_app, has_app_context
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from marshmallow import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

from app.documents import budget, keywords, patterns, subschemas
from app.documents.diff import pointer
from app.green import off_the_loop
from app.schemas.common import check_json_document

MAX_SCHEMA_BYTES = 256 * 1024  # as compact JSON
MAX_MESSAGE = 300  # jsonschema's messages quote the offending value, which may be large
DEFAULT_BUDGET_MS = 250
UNUSABLE = "The schema cannot be applied: a reference loops without end or does not resolve."
TOO_COSTLY = "Checking {} would take more than the {} ms of CPU a check may use."
_BROKEN = subschemas.BROKEN
Validator = validators.extend(Draft202012Validator, validators=keywords.REPLACED)


def _refuse(uri: str) -> Resource:
    """Never fetch: a reference to anything outside the schema stays unresolved."""
    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs field mypy cannot see


REGISTRY: Registry = Registry(retrieve=_refuse)  # type: ignore[call-arg]  # likewise


def budget_ms() -> int:
    """Return the CPU a check may use: the app's SCHEMA_CHECK_BUDGET_MS, outside one the default."""
    return current_app.config["SCHEMA_CHECK_BUDGET_MS"] if has_app_context() else DEFAULT_BUDGET_MS


def check_schema(schema: Any) -> None:
    """Raise ValidationError unless `schema` is a usable, self-contained draft 2020-12 schema."""
    if not isinstance(schema, (dict, bool)):
        raise ValidationError("Must be a JSON Schema: an object or a boolean.")
    check_json_document(schema)  # the depth and text rules of a config
    limit = budget_ms()
    try:
        with patterns.budgeted(limit):
            problem = off_the_loop(budget.within, limit, _problem, _canonical(schema))
    except budget.OverBudget:
        problem = TOO_COSTLY.format("the schema", limit)
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
    try:  # no format checker: the metaschema's `format: regex` would compile with Python's re
        Draft202012Validator.check_schema(schema, format_checker=None)
    except SchemaError as exc:
        return f"{pointer(exc.path)}: {exc.message}"
    resource = DRAFT202012.create_resource(schema)
    base = resource.id() or ""
    resolver = REGISTRY.with_resource(base, resource).resolver(base_uri=base)
    return subschemas.problem(resource, resolver)


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    return Validator(keywords.false_spelled_out(schema, keep_false=True), registry=REGISTRY)


def _message(error: Any) -> str:
    """Word an error of a spelled-out false subschema as jsonschema words `false`."""
    if error.validator == "not" and error.validator_value == {}:
        return f"False schema does not allow {error.instance!r}"
    return error.message


def violations(config: Any, schema: Any) -> list[tuple[str, str]]:
    """Return every (JSON pointer, message) by which `config` breaks `schema`, in order."""
    if schema is None:
        return []
    limit = budget_ms()
    try:
        with patterns.budgeted(limit):
            found = off_the_loop(budget.within, limit, _errors, _canonical(schema), config)
    except budget.OverBudget:
        raise ValidationError({"config": [TOO_COSTLY.format("the config", limit)]}) from None
    except patterns.PatternError as exc:  # a schema stored before patterns were RE2's
        raise ValidationError({"schema": [f"A pattern is not supported: {exc}."]}) from None
    except patterns.TextTooLong as exc:  # a property name, matched by jsonschema's helpers
        raise ValidationError({"config": [f"{exc}."]}) from None
    except _BROKEN:  # e.g. {"$ref": "#"} stored before loops were refused
        raise ValidationError({"schema": [UNUSABLE]}) from None
    return sorted(set(found))


def _errors(schema_json: str, config: Any) -> list[tuple[str, str]]:
    validator = _validator(schema_json)
    return [(pointer(e.absolute_path), _short(_message(e))) for e in validator.iter_errors(config)]


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def check_config(config: Any, schema: Any) -> None:
    """Raise ValidationError with `errors.config` listing each violation of `schema`."""
    found = violations(config, schema)
    if found:
        raise ValidationError({"config": [f"{where}: {message}" for where, message in found]})
