"""Strict JSON parsing shared by request bodies and imported files."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _exact_float(text: str) -> float:
    """Return the double of a JSON number with a fraction or exponent, if it keeps its value.

    The service keeps numbers as doubles (written back in their shortest form): refuse one
    that would come back as another value, rather than store 1e-400 as 0.0 or drop digits.
    """
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number {text[:40]} is out of range")
    if Decimal(repr(number)) != Decimal(text):
        raise ValueError(f"number {text[:40]} cannot be kept exactly; it would be {number!r}")
    return number


def loads(text: str) -> Any:
    """Parse JSON text, refusing NaN, Infinity and numbers a double cannot keep."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_exact_float)
