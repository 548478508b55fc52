"""URL converters of the service's routes, and their templates as the docs spell them."""

from __future__ import annotations

import re

from werkzeug.routing import BaseConverter, Rule

from app.schemas.common import ULID_REGEX


class UlidConverter(BaseConverter):
    """Match a ULID path segment in either case; anything else is a 404."""

    # Refuse non-ULIDs in the regex itself: a converter that raises after matching
    # would let werkzeug answer 405 (from the GET rule's methods) instead of 404.
    regex = ULID_REGEX

    def to_python(self, value: str) -> str:
        return value.upper()


_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")


def route_template(rule: Rule) -> str:
    """Return a rule as the OpenAPI paths spell it (`/versions/{version}`), cached on the rule."""
    template = getattr(rule, "template", None)
    if template is None:
        template = rule.template = _ARGUMENT.sub(r"{\1}", rule.rule)  # type: ignore[attr-defined]  # our cache
    return template
