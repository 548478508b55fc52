"""One configuration as an answer: read through the worker's cache, rendered once to bytes,
sent with its ETag, or as a 304 when the client's copy is current."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flask import Response, current_app, request

from app.api.conditional import client_is_current, etag_headers
from app.db import get_conn
from app.documents.merge import merge_patch
from app.live.listener import ENVIRONMENTS, NAMES, overlay_key
from app.repositories.configurations import ConfigurationRepository
from app.repositories.overlays import OverlayRepository
from app.schemas.common import NAME_PATTERN, timestamp
from app.schemas.environments import ResolvedConfigurationSchema
from app.web.errors import NotFound, found
from app.web.scope import in_scope
from app.worker import current_worker

resolved_schema = ResolvedConfigurationSchema()


class Rendered(NamedTuple):
    """One configuration's answer body, as reads cache it."""

    id: str
    version: int
    body: bytes
    tag: str  # the ETag's value: "<version>", or "<version>.<overlay version>" when resolved
    application_id: str  # a scoped token's answer is checked after the cache lookup


def render(row: dict[str, Any]) -> Rendered:
    """Serialize a configuration row once, as the JSON answer body: ConfigurationSchema's
    fields in its order, written out by hand (a marshmallow dump took ~25 µs more, ~5 % of a
    read from the database; tests/test_representation.py holds the two equal)."""
    fields = {
        "id": row["id"],
        "application_id": row["application_id"],
        "name": row["name"],
        "comments": row["comments"],
        "config": row["config"],
        "schema": row["schema"],
        "version": row["version"],
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
    }
    text = current_app.json.dumps(fields, separators=(",", ":"))
    body, tag = f"{text}\n".encode(), str(row["version"])
    return Rendered(row["id"], row["version"], body, tag, row["application_id"])


def render_resolved(row: dict[str, Any]) -> Rendered:
    """Serialize a configuration resolved for an environment (its overlay applied) once."""
    if row["patch"] is not None:
        row = {**row, "config": merge_patch(row["config"], row["patch"])}
    text = current_app.json.dumps(resolved_schema.dump(row), separators=(",", ":"))
    tag = f"{row['version']}.{row['overlay_version']}"
    return Rendered(row["id"], row["version"], f"{text}\n".encode(), tag, row["application_id"])


NO_CONFIGURATION = "No configuration has this id or name."
NO_RESOLVED = "No configuration has this id or name, or no environment this name."


def visible(row: Any, environment: str | None = None) -> Any:
    """Return the configuration (a row or Rendered), or raise 404: also when it belongs to
    an application the token may not see (every configuration route passes through here)."""
    missing = NO_RESOLVED if environment else NO_CONFIGURATION
    return found(row if row is None or in_scope(_application_of(row)) else None, missing)


def _application_of(row: Any) -> str:
    return row.application_id if isinstance(row, Rendered) else row["application_id"]


def answer(row: dict[str, Any] | Rendered, status: int = 200, headers: dict | None = None):
    """Answer one configuration with its ETag, or 304 when the client's copy is current."""
    rendered = row if isinstance(row, Rendered) else render(row)
    headers = {**etag_headers(rendered.tag), **(headers or {})}
    if request.method in ("GET", "HEAD") and client_is_current(rendered.tag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, status, headers, mimetype="application/json")


def id_key(configuration_id: str, environment: str | None = None) -> tuple[str, ...]:
    """Return the read cache's key of a configuration read by (upper-case) id, resolved for
    an environment when one is named."""
    return (
        ("id", configuration_id) if environment is None else ("id", configuration_id, environment)
    )


def names_key(application_name: str, name: str, environment: str | None = None) -> tuple[str, ...]:
    """Return the read cache's key of a configuration read by names (and environment)."""
    key = ("name", application_name, name)
    return key if environment is None else (*key, environment)


def read_by_id(configuration_id: str) -> Rendered | None:
    """Return the configuration with this id, rendered, through the worker's read cache."""

    def load_by_id() -> Rendered | None:
        row = ConfigurationRepository(get_conn()).get(configuration_id)
        return None if row is None else render(row)

    return _cached(id_key(configuration_id), load_by_id, lambda found: (found.id,))


def read_by_names(application_name: str, name: str) -> Rendered | None:
    """Return an application's configuration by names, rendered, through the read cache."""

    def load_by_names() -> Rendered | None:
        row = ConfigurationRepository(get_conn()).get_by_names(application_name, name)
        return None if row is None else render(row)

    # A rename or deletion of the application moves every name under it: NAMES owns them too.
    return _cached(
        names_key(application_name, name), load_by_names, lambda found: (found.id, NAMES)
    )


def wants_fresh(environ: dict[str, Any]) -> bool:
    """Tell whether a request asks past the read cache (`Cache-Control: no-cache`)."""
    return "no-cache" in environ.get("HTTP_CACHE_CONTROL", "")


def read_resolved(configuration_id: str, environment: str) -> Rendered | None:
    """Return the configuration with this id resolved for an environment, through the cache."""

    def load_resolved() -> Rendered | None:
        row = OverlayRepository(get_conn()).resolve(configuration_id, environment)
        return None if row is None else render_resolved(row)

    key = id_key(configuration_id, environment)
    return _cached(key, load_resolved, lambda found: wake_keys(found.id, environment))


def read_resolved_by_names(application_name: str, name: str, environment: str) -> Rendered | None:
    """Return a configuration by names resolved for an environment, through the cache."""

    def load_resolved_by_names() -> Rendered | None:
        repo = OverlayRepository(get_conn())
        row = repo.resolve_by_names(application_name, name, environment)
        return None if row is None else render_resolved(row)

    key = names_key(application_name, name, environment)
    owners = lambda found: (*wake_keys(found.id, environment), NAMES)  # noqa: E731
    return _cached(key, load_resolved_by_names, owners)


def requested_environment() -> str | None:
    """Return ?environment=, None without it; 404 for a name no environment can have."""
    environment = request.args.get("environment")
    if environment is not None and not (
        len(environment) <= 128 and NAME_PATTERN.fullmatch(environment)
    ):
        raise NotFound(NO_RESOLVED)
    return environment


def lookup_by_id(configuration_id: str, environment: str | None) -> Callable[[], Any]:
    """Return the read of a configuration by id: resolved when an environment is named."""
    if environment is None:
        return lambda: read_by_id(configuration_id)
    return lambda: read_resolved(configuration_id, environment)


def lookup_by_names(application: str, name: str, environment: str | None) -> Callable[[], Any]:
    """Return the read of a configuration by names: resolved when an environment is named."""
    if environment is None:
        return lambda: read_by_names(application, name)
    return lambda: read_resolved_by_names(application, name, environment)


def wake_keys(configuration_id: str, environment: str | None) -> tuple[str, ...]:
    """Return what a read depends on: the base, and for an environment its overlay and its
    existence (an overlay's change wakes only the watchers of its environment)."""
    if environment is None:
        return (configuration_id,)
    return (configuration_id, overlay_key(configuration_id, environment), ENVIRONMENTS)


def _cached(key: tuple[str, ...], load: Any, owners: Any) -> Rendered | None:
    size = lambda rendered: len(rendered.body)  # noqa: E731
    return current_worker().cached(key, load, owners, size, wants_fresh(request.environ))
