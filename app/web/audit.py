"""Record writes in the audit log, in the same transaction as the write."""

from __future__ import annotations

import getpass
from typing import Any

from flask import g, has_request_context
from ulid import ULID

from app.repositories.audit import AuditRepository

ANONYMOUS = "anonymous"  # the actor of every write while AUTH_ENABLED is off
ACTIONS = ("create", "update", "delete", "restore", "revoke")
RESOURCE_TYPES = ("application", "configuration", "token", "environment", "overlay")


def record(
    conn: Any,
    action: str,
    resource_type: str,
    resource_id: str,
    version: int | None = None,
    actor: str | None = None,
    environment: str | None = None,
) -> None:
    """Record one write on `conn` by the request's token, or by `actor` (a command: no request);
    `environment` names the environment of an environment or overlay write."""
    who = new_entry(actor)
    AuditRepository(conn).record(
        who["audit_id"], who["actor"], action, resource_type, resource_id, version,
        who["request_id"], environment,
    )  # fmt: skip


def new_entry(actor: str | None = None) -> dict[str, Any]:
    """Return a new entry's id, its actor (the request's token, else `actor`, else the
    command's operator) and the request id, for a statement that writes the entry itself."""
    request_id = None
    if actor is None:
        in_request = has_request_context()
        actor = g.get("actor", ANONYMOUS) if in_request else cli_actor()
        request_id = g.get("request_id") if in_request else None
    return {"audit_id": str(ULID()), "actor": actor, "request_id": request_id}


def recorded(
    conn: Any, action: str, resource_type: str, row: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Record the write that produced `row` and return it; None (nothing changed) records none."""
    if row is not None:
        version = row["version"] if resource_type == "configuration" else None
        record(conn, action, resource_type, row["id"], version)
    return row


def cli_actor() -> str:
    """Name the operator of a `flask` command: `cli:<OS user>`.

    The colon cannot occur in a token name, so a command's entries never pass for a token's.
    """
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return "cli"
    return f"cli:{user}" if user else "cli"
