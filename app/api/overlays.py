"""Routes of a configuration's overlays: per environment, a merge patch over the base."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, request

from app.api.common import decode_cursor, json_body, page, page_query
from app.api.conditional import check_if_match, client_is_current, etag_headers
from app.api.environments import NO_ENVIRONMENT, known
from app.api.representation import visible
from app.api.writes import checked
from app.db import get_conn, transaction
from app.live.listener import overlay_key
from app.openapi.builders import ETAG, body, no_content, ok, operation
from app.openapi.components import BODY, READ, VERSION_PAGE_QUERY, WRITE
from app.repositories.configurations import ConfigurationRepository
from app.repositories.environments import EnvironmentRepository
from app.repositories.overlays import OverlayRepository
from app.schemas.environments import OverlayListSchema, OverlaySchema
from app.web.audit import record
from app.web.errors import PreconditionFailed, found
from app.web.tokens import READER, WRITER
from app.worker import current_worker

blueprint = Blueprint("overlays", __name__)
schema = OverlaySchema()
list_schema = OverlayListSchema()
BASE = "/configurations/<ulid:configuration_id>/environments"
ONE = f"{BASE}/<environment>"
NO_OVERLAY = "This configuration has no overlay for this environment."
ONLY_CREATE = {
    "in": "header",
    "name": "If-None-Match",
    "description": "`*`: write only if the overlay does not exist yet (else 412)."
    " Example: `If-None-Match: *`.",
    "schema": {"type": "string"},
}


@blueprint.get(BASE)
@operation(
    READER,
    {"200": ok(OverlayListSchema, "A page of overlays, in environment name order.")},
    (400, 404, *READ),
    [VERSION_PAGE_QUERY],
)
def list_overlays(configuration_id: str):
    """List a configuration's overlays by environment name, a page at a time."""
    query = page_query()
    after = decode_cursor(query["cursor"], lambda name: len(name) <= 128)
    conn = get_conn()
    visible(ConfigurationRepository(conn).get(configuration_id))
    rows = OverlayRepository(conn).page(configuration_id, query["limit"], after)
    return list_schema.dump(page(rows, query["limit"], key="environment"))


@blueprint.get(ONE)
@operation(READER, {"200": ok(OverlaySchema, "Found.", ETAG), "304": "NotModified"}, (404, *READ))
def get_overlay(configuration_id: str, environment: str):
    """Answer a configuration's overlay for one environment."""
    conn = get_conn()
    visible(ConfigurationRepository(conn).get(configuration_id))  # and within the token's scope
    row = OverlayRepository(conn).get(configuration_id, known(environment))
    return _answer(found(row, NO_OVERLAY))


@blueprint.put(ONE)
@operation(
    WRITER,
    {
        "200": ok(OverlaySchema, "Replaced.", ETAG),
        "201": ok(OverlaySchema, "Created.", ["Location", *ETAG]),
    },
    (*BODY, 404, 412, *WRITE),
    ["If-Match", ONLY_CREATE],
    requestBody=body(OverlaySchema),
)
def put_overlay(configuration_id: str, environment: str):
    """Create or replace the overlay; the schema must hold for the resolved configuration."""
    fields = schema.load(json_body())
    with transaction() as conn:
        base = _locked(conn, configuration_id, known(environment))
        repo = OverlayRepository(conn)
        current = _precondition(repo.get(configuration_id, environment))
        checked(base, {environment: fields["patch"]}, base=False)
        if current is None:
            row = repo.create(configuration_id, environment, fields)
        else:
            row = repo.update(configuration_id, environment, fields)
        if row is not None:
            action = "create" if current is None else "update"
            record(conn, action, "overlay", configuration_id, row["version"], None, environment)
    current_worker().forget(overlay_key(configuration_id, environment))
    if current is None:
        return _answer(row, 201, {"Location": request.path})
    return _answer(row or current)


@blueprint.delete(ONE)
@operation(WRITER, no_content("Deleted."), (404, 412, *WRITE), ["If-Match"])
def delete_overlay(configuration_id: str, environment: str):
    """Delete the overlay: the environment sees the base alone again."""
    with transaction() as conn:
        _locked(conn, configuration_id, known(environment))
        repo = OverlayRepository(conn)
        current = found(repo.get(configuration_id, environment), NO_OVERLAY)
        check_if_match(current["version"])
        repo.delete(configuration_id, environment)
        record(conn, "delete", "overlay", configuration_id, current["version"], None, environment)
    current_worker().forget(overlay_key(configuration_id, environment))
    return "", 204


def _locked(conn: Any, configuration_id: str, environment: str) -> dict[str, Any]:
    """Lock the configuration (overlay writes and base writes take turns), or 404."""
    base = visible(ConfigurationRepository(conn).get(configuration_id, True))
    found(EnvironmentRepository(conn).get(environment), NO_ENVIRONMENT)
    return base


def _precondition(current: dict[str, Any] | None) -> dict[str, Any] | None:
    """Check If-None-Match: * (only create) and If-Match (only replace that version)."""
    if current is not None and request.headers.get("If-None-Match", "").strip() == "*":
        raise PreconditionFailed("The overlay exists already (If-None-Match: *).")
    if current is None and "If-Match" in request.headers:
        raise PreconditionFailed("If-Match names a version, but the overlay does not exist.")
    if current is not None:
        check_if_match(current["version"])
    return current


def _answer(row: dict[str, Any], status: int = 200, headers: dict | None = None) -> Response:
    """Answer one overlay with its ETag, or 304 when the client's copy is current."""
    headers = {**etag_headers(row["version"]), **(headers or {})}
    if request.method == "GET" and client_is_current(row["version"]):
        return Response(status=304, headers=headers)
    text = current_app.json.dumps(schema.dump(row), separators=(",", ":"))
    return Response(f"{text}\n", status, headers, mimetype="application/json")
