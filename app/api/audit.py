"""Routes of /api/v1/audit: the log of every write (admins only)."""

from __future__ import annotations

from flask import Blueprint

from app.api.common import decode_cursor, page, page_query
from app.db import get_conn
from app.openapi.builders import ok, operation
from app.openapi.components import WRITE
from app.repositories.audit import AuditRepository
from app.schemas.audit import AuditListSchema, AuditQuerySchema
from app.schemas.common import ULID_PATTERN
from app.web.scope import refuse_scoped
from app.web.tokens import ADMIN

blueprint = Blueprint("audit", __name__)
query_schema = AuditQuerySchema()
list_schema = AuditListSchema()
FILTERS = ("resource_id", "actor", "action")


@blueprint.get("/audit")
@operation(
    ADMIN,
    {"200": ok(AuditListSchema, "A page of entries, newest first.")},
    (400, *WRITE),
    [{"in": "query", "schema": AuditQuerySchema}],
    description="Admin only, and not for scoped tokens. The filters match exactly.",
)
def list_audit():
    """List audit entries newest first, filtered by resource, actor or action, a page at a time."""
    refuse_scoped("read the audit log: it spans every application")
    query = page_query(query_schema)
    before = decode_cursor(query["cursor"], ULID_PATTERN.fullmatch)
    filters = {name: query[name] for name in FILTERS}
    rows = AuditRepository(get_conn()).page(query["limit"], before, filters)
    return list_schema.dump(page(rows, query["limit"]))
