"""The OpenAPI 3.1 document of /api/v1, generated from the marshmallow schemas by apispec.

apispec and its MarshmallowPlugin, not flask-smorest: the service is built on plain Flask
blueprints whose thin views load and dump with marshmallow themselves. flask-smorest would
mean rewriting every view around its decorators, its own error handler and pagination, and
registering the blueprints through its `Api`. apispec only reads: the paths and path
parameters come from `app.url_map` (tests/test_openapi.py fails on a route the document
lacks), and each operation from the `@operation` its view declares (app/openapi/builders.py).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, current_app
from werkzeug.routing import IntegerConverter

from app.openapi.builders import OPEN, ok, operation
from app.openapi.components import HEADERS, PARAMETERS, RESPONSES
from app.openapi.plugin import NAME, ULID, Plugin
from app.web import API_PREFIX as PREFIX
from app.web.converters import UlidConverter, route_template

blueprint = Blueprint("openapi", __name__)
IGNORED_METHODS = {"HEAD", "OPTIONS"}  # Flask answers these for every route by itself
_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>:]+)>")
_PATH_DESCRIPTIONS = {
    "application_id": "An application's id (a ULID, either case).",
    "configuration_id": "A configuration's id (a ULID, either case).",
    "version": "A version number of the configuration.",
}
DESCRIPTION = """\
Applications and their named JSON configurations, with history, rollback and change watching.

Every error is an RFC 9457 problem (`application/problem+json`); `errors` maps each invalid
field or query parameter to its messages. Lists are paged by `limit` (1-500, default 50) and
the opaque `next_cursor`. A configuration's `ETag` is its version: send it back in `If-Match`
to write only over that version, or in `If-None-Match` (with `Prefer: wait=N`, 1-60 s) to
wait for the next change. A request that sends a body must say `Content-Type: application/json`
(PATCH also takes `application/merge-patch+json`); an unknown route answers 404, a known one
with another method 405.
"""


@blueprint.get(f"{PREFIX}/openapi.json")
@operation(OPEN, {"200": ok({"type": "object"}, "This document.")}, ())
def openapi_document():
    """Answer this service's OpenAPI document."""
    if "openapi" not in current_app.extensions:
        current_app.extensions["openapi"] = build_spec(current_app)
    return current_app.extensions["openapi"]


def build_spec(app: Flask) -> dict[str, Any]:
    """Return the OpenAPI document of every /api/v1 route the app serves."""
    plugin = Plugin()
    spec = APISpec(
        title="Config Service",
        version="1",
        openapi_version="3.1.0",
        plugins=[plugin],
        info={"description": DESCRIPTION},
        security=[{"bearerAuth": []}],
    )
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for name, parameter in PARAMETERS.items():
        parameter = dict(parameter)
        spec.components.parameter(name, parameter.pop("in"), parameter)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        if rule.rule.startswith(f"{PREFIX}/") and hasattr(view, "openapi"):
            _add_path(spec, view, rule)
    return spec.to_dict()


def _add_path(spec: APISpec, view: Any, rule: Any) -> None:
    described = {
        "operationId": rule.endpoint.split(".")[-1],
        "tags": [rule.endpoint.split(".")[0]],
        "summary": (view.__doc__ or "").strip().splitlines()[0].rstrip("."),
        **copy.deepcopy(view.openapi),  # apispec resolves references in place
    }
    path_parameters = [_path_parameter(name, rule) for name in _ARGUMENT.findall(rule.rule)]
    operations = {m.lower(): described for m in sorted(rule.methods - IGNORED_METHODS)}
    spec.path(
        path=route_template(rule),
        parameters=path_parameters,
        operations=operations,
    )


def _path_parameter(name: str, rule: Any) -> dict[str, Any]:
    converter = rule._converters[name]
    if isinstance(converter, UlidConverter):
        schema: dict[str, Any] = {"type": "string", "pattern": ULID}
    elif isinstance(converter, IntegerConverter):
        schema = {"type": "integer", "minimum": converter.min, "maximum": converter.max}
    else:  # names: anything that is not a valid name is simply not found
        schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NAME}
    description = _PATH_DESCRIPTIONS.get(name, "A name (case-sensitive).")
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": schema,
        "description": description,
    }


def init_app(app: Flask) -> None:
    """Serve the document and its docs page."""
    from app.openapi import docs

    app.register_blueprint(blueprint)
    app.register_blueprint(docs.blueprint)
