"""schemathesis hooks for .ci/schemathesis.sh: keep each request within what it is meant to test."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import schemathesis

# gunicorn refuses a request line longer than this (its limit_request_line) with an HTML 414
# of its own before the service sees the request: such a case would test gunicorn, not the API.
REQUEST_LINE_LIMIT = 4094


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop a generated request whose request line gunicorn would refuse as too long."""
    target = quote(case.formatted_path, safe="/%") + "?" + urlencode(case.query or {}, doseq=True)
    return len(f"{case.method} {target} HTTP/1.1") < REQUEST_LINE_LIMIT


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Wait at most 1 s where a generated `Prefer: wait=N` would hold a request up to 60 s."""
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "prefer" and "wait" in str(headers[name]).lower():
            headers[name] = "wait=1"
