"""Strict JSON parsing shared by request bodies and imported files."""

from __future__ import annotations

import json
import math
from typing import Any


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number {text[:40]} is out of range")
    return number


def loads(text: str) -> Any:
    """Parse JSON text, refusing NaN, Infinity and numbers that overflow a float."""
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
