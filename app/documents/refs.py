"""How a schema's subschemas apply to one value: refuse `$ref` loops and runaway fan-out.

A keyword such as `properties` or `items` applies its subschemas to a part of the value,
so recursion through it ends with the (finite) config. `$ref`, `allOf`, `not` and the
like apply theirs to the same value: a cycle of those never ends, whatever the config,
and a chain of them can multiply (`allOf: [{$ref: next}, {$ref: next}]`, 30 deep, is 2**30
checks of every value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

MAX_APPLIED = 10_000  # subschemas applied to one value, references followed
LOOP = "A reference loop: this subschema applies itself to the same value again, without end."
_ONE = ("not", "if", "then", "else")
_MANY = ("allOf", "anyOf", "oneOf")
_REFS = ("$ref", "$dynamicRef")


def in_place(schema: dict[str, Any], resolve: Callable[[str, str], Iterable[Any]]) -> list[dict]:
    """Return the subschemas `schema` applies to the value it is applied to, refs resolved."""
    found: list[Any] = [schema[keyword] for keyword in _ONE if keyword in schema]
    for keyword in _MANY:
        found.extend(schema.get(keyword, ()))
    found.extend(schema.get("dependentSchemas", {}).values())
    for keyword in _REFS:
        if isinstance(schema.get(keyword), str):
            found.extend(resolve(keyword, schema[keyword]))
    return [item for item in found if isinstance(item, dict)]


def first_problem(edges: dict[int, list[dict]], where: dict[int, str]) -> str | None:
    """Name a subschema that applies itself again, or more than MAX_APPLIED subschemas."""
    applied: dict[int, int] = {}  # id -> subschemas applied through it (itself included)
    for start in edges:
        if start in applied:
            continue
        stack = [(start, iter(edges[start]))]
        on_path = {start}
        while stack:
            node, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                total = 1 + sum(applied[id(item)] for item in edges.get(node, ()))
                if total > MAX_APPLIED:
                    return f"{where[node]}: applies more than {MAX_APPLIED} subschemas to one value"
                applied[node] = total
            elif id(child) in on_path:
                return f"{where[node]}: {LOOP}"
            elif id(child) not in applied:
                stack.append((id(child), iter(edges.get(id(child), ()))))
                on_path.add(id(child))
    return None
