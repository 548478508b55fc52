"""SQL for configurations."""

from __future__ import annotations

from typing import Any

from psycopg2 import errors
from psycopg2.extras import Json

from app.repositories import MissingReference, NameTaken, Repository
from app.repositories.audit import INSERT_INTO

_COLUMNS = """
    c.id, c.application_id, c.name, c.comments, c.config, c.schema, c.version, c.created_at,
    c.updated_at
"""

# Create a configuration at version 1.
INSERT = f"""
INSERT INTO configurations AS c (id, application_id, name, comments, config, schema)
VALUES (%(id)s, %(application_id)s, %(name)s, %(comments)s, %(config)s, %(schema)s)
RETURNING {_COLUMNS}
"""
# One configuration by id.
SELECT_BY_ID = f"SELECT {_COLUMNS} FROM configurations c WHERE c.id = %(id)s"
# One configuration by id, locked until the transaction ends (read-modify-write).
SELECT_FOR_UPDATE = SELECT_BY_ID + " FOR UPDATE"
# One configuration by application name and configuration name.
SELECT_BY_NAMES = f"""
SELECT {_COLUMNS} FROM configurations c JOIN applications a ON a.id = c.application_id
WHERE a.name = %(application_name)s AND c.name = %(name)s
"""
# The bytes a row's documents take as JSON text: what a page's byte cap counts.
_SIZE = "octet_length(c.config::text) + coalesce(octet_length(c.schema::text), 0)"
# A page of an application's configurations after a key, by literal name prefix: walked one
# row at a time, stopping at `limit` rows or once their documents pass `max_bytes`, plus one
# row to tell whether more follow (as versions.SELECT_PAGE).
SELECT_PAGE = f"""
WITH RECURSIVE walk AS (
    (SELECT {_COLUMNS}, {_SIZE} AS size, {_SIZE} AS total, 1 AS n
     FROM configurations c
     WHERE c.application_id = %(application_id)s
       AND (%(after)s::text IS NULL OR c.id > %(after)s) AND c.name LIKE %(pattern)s
     ORDER BY c.id LIMIT 1)
    UNION ALL
    SELECT {_COLUMNS}, {_SIZE}, w.total + {_SIZE}, w.n + 1
    FROM walk w CROSS JOIN LATERAL (
        SELECT * FROM configurations c
        WHERE c.application_id = %(application_id)s AND c.id > w.id AND c.name LIKE %(pattern)s
        ORDER BY c.id LIMIT 1
    ) c
    WHERE w.n <= %(limit)s AND (w.n = 1 OR w.total - w.size < %(max_bytes)s)
)
SELECT id, application_id, name, comments, config, schema, version, created_at, updated_at,
    size
FROM walk ORDER BY n
"""
# A page of an application's configurations without their documents, after a key.
SELECT_SUMMARY_PAGE = """
SELECT c.id, c.name, c.version, c.updated_at FROM configurations c
WHERE c.application_id = %(application_id)s AND (%(after)s::text IS NULL OR c.id > %(after)s)
ORDER BY c.id LIMIT %(limit)s
"""
# Write new field values as the next version; no row when nothing would change.
_UPDATE = """
UPDATE configurations AS c SET name = %(name)s, comments = %(comments)s, config = %(config)s,
    schema = %(schema)s, version = c.version + 1, updated_at = now()
WHERE c.id = %(id)s
  AND (c.name, c.comments, c.config, c.schema)
      IS DISTINCT FROM (%(name)s::text, %(comments)s::text, %(config)s::jsonb, %(schema)s::jsonb)
"""
UPDATE = f"{_UPDATE} RETURNING {_COLUMNS}"
# The same write, only if the configuration is at the expected version (if one is given)
# and in the expected application (if given), with its audit entry: one statement, so in
# autocommit one round trip, all or nothing. No row: the caller takes the locking path.
# Only without a schema, before and after: a schema must also hold for every environment,
# which only the locking path (which overlay writes wait for) can check.
UPDATE_AT_VERSION_AUDITED = f"""
WITH updated AS (
    {_UPDATE}
      AND c.schema IS NULL AND %(schema)s::jsonb IS NULL
      AND (%(expected)s::integer IS NULL OR c.version = %(expected)s)
      AND (%(application_id)s::text IS NULL OR c.application_id = %(application_id)s)
    RETURNING {_COLUMNS}
), audited AS (
    {INSERT_INTO}
    SELECT %(audit_id)s, %(actor)s, 'update', 'configuration', u.id, u.version, %(request_id)s
    FROM updated u
)
SELECT * FROM updated
"""
# Delete a configuration.
DELETE = "DELETE FROM configurations WHERE id = %(id)s RETURNING id"


class ConfigurationRepository(Repository):
    """Reads and writes configurations on one connection."""

    def create(self, id: str, fields: dict[str, Any]) -> dict[str, Any]:
        params = {**fields, "id": id, **_json_params(fields)}
        try:
            return self._row(INSERT, params)
        except errors.UniqueViolation:
            raise _name_taken(fields["name"]) from None
        except errors.ForeignKeyViolation:
            raise MissingReference("application_id", "No application has this id.") from None

    def get(self, id: str, for_update: bool = False) -> dict[str, Any] | None:
        return self._one(SELECT_FOR_UPDATE if for_update else SELECT_BY_ID, {"id": id})

    def get_by_names(self, application_name: str, name: str) -> dict[str, Any] | None:
        return self._one(SELECT_BY_NAMES, {"application_name": application_name, "name": name})

    def page(
        self, application_id: str, limit: int, after: str | None, pattern: str, max_bytes: int
    ) -> list[dict[str, Any]]:
        """Return a page's rows and the next one if any (see `app.api.common.page`)."""
        params = {"application_id": application_id, "after": after, "pattern": pattern}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_PAGE, {**params, "limit": limit, "max_bytes": max_bytes})
            return cur.fetchall()

    def summaries(self, application_id: str, limit: int, after: str | None) -> list[dict[str, Any]]:
        """Return up to limit+1 configurations' ids, names and versions, no documents."""
        params = {"application_id": application_id, "after": after, "limit": limit + 1}
        with self.conn.cursor() as cur:
            cur.execute(SELECT_SUMMARY_PAGE, params)
            return cur.fetchall()

    def update(self, id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Write the next version; None when the fields equal the current ones."""
        params = {**fields, "id": id, **_json_params(fields)}
        try:
            return self._one(UPDATE, params)
        except errors.UniqueViolation:
            raise _name_taken(fields["name"]) from None

    def update_at_version(
        self,
        id: str,
        fields: dict[str, Any],
        expected: int | None,
        application_id: str | None,
        audit: dict[str, Any],
    ) -> dict[str, Any] | None:
        """Write the next version and its audit entry in one statement, if the configuration
        is at `expected` (None: any) in `application_id` (None: any) and the fields change;
        else None, and nothing written."""
        params = {**fields, "id": id, **_json_params(fields), "expected": expected}
        params.update(application_id=application_id, **audit)
        try:
            return self._one(UPDATE_AT_VERSION_AUDITED, params)
        except errors.UniqueViolation:
            raise _name_taken(fields["name"]) from None

    def delete(self, id: str) -> bool:
        return self._one(DELETE, {"id": id}) is not None


def _json_params(fields: dict[str, Any]) -> dict[str, Any]:
    """Adapt config and schema to jsonb; no schema is SQL NULL, never JSON null."""
    schema = fields.get("schema")
    return {"config": Json(fields["config"]), "schema": None if schema is None else Json(schema)}


def _name_taken(name: str) -> NameTaken:
    return NameTaken(f"This application already has a configuration named {name!r}.")
