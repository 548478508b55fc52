"""Draft 2020-12 keywords: which hold subschemas, and our implementations of a few."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from typing import Any

from jsonschema.exceptions import ValidationError

from app.documents import patterns

# Draft 2020-12 keywords whose value is a schema, an array of them, or an object of them.
_ONE = {"not", "if", "then", "else", "contains", "propertyNames", "contentSchema"}
_ONE_KEEPING_FALSE = {"additionalProperties", "items", "unevaluatedItems", "unevaluatedProperties"}
_ARRAY = {"allOf", "anyOf", "oneOf", "prefixItems"}
_OBJECT = {"$defs", "dependentSchemas", "patternProperties", "properties"}


def false_spelled_out(schema: Any, keep_false: bool = False) -> Any:
    """Return the schema with each false subschema written {"not": {}}, which means the same.

    jsonschema leaves the property name or index out of the path of an error raised by a
    false subschema; the keywords that word their own error for `false` keep it.
    """
    if schema is False and not keep_false:
        return {"not": {}}
    if not isinstance(schema, dict):
        return schema
    spelled = dict(schema)
    for key, value in schema.items():
        if key in _ONE or key in _ONE_KEEPING_FALSE:
            spelled[key] = false_spelled_out(value, key in _ONE_KEEPING_FALSE)
        elif key in _ARRAY and isinstance(value, list):
            spelled[key] = [false_spelled_out(item) for item in value]
        elif key in _OBJECT and isinstance(value, dict):
            spelled[key] = {name: false_spelled_out(item) for name, item in value.items()}
    return spelled


# Keyword implementations that replace jsonschema's where its own can hang or fail: its
# `pattern` uses Python's backtracking `re`, `uniqueItems` compares every pair of objects,
# and `multipleOf` divides through a float that a 400-digit integer overflows.


def pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """Match with RE2 (linear time); a string too long to match in budget is a violation."""
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = patterns.search(regex, instance)
    except patterns.TextTooLong as exc:
        yield ValidationError(str(exc))
    else:
        if not matched:
            yield ValidationError(f"{instance!r} does not match {regex!r}")


def pattern_properties(
    validator: Any, by_pattern: dict[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """Apply each subschema to the properties whose names its pattern matches, with RE2."""
    if not validator.is_type(instance, "object"):
        return
    for regex, subschema in by_pattern.items():
        for name, value in instance.items():
            if patterns.search(regex, name):
                yield from validator.descend(value, subschema, path=name, schema_path=regex)


def multiple_of(
    validator: Any, divisor: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """Divide exactly, as decimals are written: 0.3 is a multiple of 0.1, 10**400 of 0.5."""
    if validator.is_type(instance, "number") and _exact(instance) % _exact(divisor):
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


def _exact(number: float) -> Fraction:
    # A float's shortest repr is the decimal the document wrote (load.py refuses the others).
    return Fraction(Decimal(repr(number))) if isinstance(number, float) else Fraction(number)


def unique_items(
    validator: Any, unique: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    """Find a repeated item in one pass over hashable keys, not by comparing every pair."""
    if unique and validator.is_type(instance, "array"):
        seen: set[Any] = set()
        for item in instance:
            key = _key(item)
            if key in seen:
                yield ValidationError(f"{instance!r} has non-unique elements")
                return
            seen.add(key)


def _key(value: Any) -> Any:
    """Return a hashable value equal for JSON-equal values (1 == 1.0, but true != 1).

    Tuples only: the collector stops tracking a tuple of untracked items the first time it
    sees one, whereas each frozenset would stay tracked, and 85,000 of them made every full
    collection (one pause holding the GIL) over a hundred milliseconds long.
    """
    if isinstance(value, dict):  # names are unique, so sorting never compares the values
        return ("object", tuple(sorted((name, _key(item)) for name, item in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_key(item) for item in value))
    if isinstance(value, bool):
        return ("boolean", value)
    return value


REPLACED = {
    "pattern": pattern,
    "patternProperties": pattern_properties,
    "multipleOf": multiple_of,
    "uniqueItems": unique_items,
}
