"""The writes every configuration route shares: lock and check If-Match, check the config
against the schema, write the next version with its audit entry."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from app.api.conditional import check_if_match
from app.api.representation import visible
from app.documents.merge import merge_patch
from app.documents.schema import violations
from app.repositories.configurations import ConfigurationRepository
from app.repositories.overlays import OverlayRepository
from app.web.audit import recorded

FIELDS = ("name", "comments", "config", "schema")  # what a write may change


def locked(
    repo: ConfigurationRepository, configuration_id: str, if_match: str | None = None
) -> dict[str, Any]:
    """Lock the configuration until the transaction ends, then check If-Match (the
    request's, or `if_match` when given: the console sends the version it edited)."""
    current = visible(repo.get(configuration_id, for_update=True))
    check_if_match(current["version"], if_match)
    return current


def checked(
    fields: dict[str, Any], patches: dict[str, dict[str, Any]] | None = None, base: bool = True
) -> dict[str, Any]:
    """Return the fields if their config (unless not `base`), and that config resolved with
    each overlay patch (environment -> patch), satisfy their schema, else raise 422 keyed
    `config` and `environments.<name>`: the one place every write (of a base, an overlay or
    a schema) checks it."""
    schema = fields.get("schema")
    documents = {"config": fields["config"]} if base else {}
    for environment, patch in (patches or {}).items():
        documents[f"environments.{environment}"] = merge_patch(fields["config"], patch)
    errors = {}
    for key, config in documents.items():
        found = violations(config, schema)
        if found:
            errors[key] = [f"{where}: {message}" for where, message in found]
    if errors:
        raise ValidationError(errors)
    return fields


def save(
    conn: Any, current: dict[str, Any], fields: dict[str, Any], action: str = "update"
) -> dict[str, Any]:
    """Write the fields as the next version of the locked `current` configuration and record
    it; a write that changes nothing returns `current` and records nothing."""
    repo = ConfigurationRepository(conn)
    patches = None  # without a schema there is nothing to check the environments against
    if fields.get("schema") is not None:
        patches = OverlayRepository(conn).patches(current["id"])
    changed = repo.update(current["id"], checked(fields, patches))
    return recorded(conn, action, "configuration", changed) or current
