"""The draft 2020-12 keywords that hold subschemas, and a jsonschema workaround built on them."""

from __future__ import annotations

from typing import Any

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
