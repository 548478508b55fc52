"""The OpenAPI document: every route in it, valid OpenAPI 3.1, true to what the service answers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app import create_app
from app.openapi.components import PROBLEM
from app.schemas.common import NAME_PATTERN
from tests.helpers import create_application, create_configuration

DOCUMENT = "/api/v1/openapi.json"
AUTOMATIC = {"HEAD", "OPTIONS"}  # Flask answers these on every route by itself
OPEN = {("get", "/api/v1/openapi.json"), ("get", "/api/v1/docs")}
READING_POSTS = {("post", "/api/v1/watch")}  # a reader may send them: no 403
METHODS = {"get", "put", "post", "patch", "delete"}
REQUEST_ID_HEADER = "#/components/headers/X-Request-ID"


@pytest.fixture
def document(client: Any) -> dict[str, Any]:
    """The document as the service serves it."""
    response = client.get(DOCUMENT)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Return (method, path, operation) for every operation in the document."""
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def openapi_path(rule: str) -> str:
    """Spell a Flask rule the OpenAPI way: <ulid:application_id> -> {application_id}."""
    return re.sub(r"<(?:[^<>:]+:)?([^<>:]+)>", r"{\1}", rule)


def test_every_api_route_and_method_is_documented(app: Any, document: dict[str, Any]) -> None:
    served = {
        (method.lower(), openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods - AUTOMATIC
    }
    documented = {(method, path) for method, path, _ in operations(document)}
    assert served - documented == set(), "routes without an @operation on their view"
    assert documented - served == set(), "documented routes the app does not serve"


def test_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_document_is_open_and_built_once_even_with_auth_on(app_settings: dict[str, Any]) -> None:
    app = create_app({**app_settings, "AUTH_ENABLED": True})
    client = app.test_client()
    first, second = client.get(DOCUMENT), client.get(DOCUMENT)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert client.get("/api/v1/applications").status_code == 401  # the rest is not open


def test_operation_ids_are_unique_and_summaries_come_from_the_views(document: dict) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))
    summaries = {op["operationId"]: op["summary"] for _, _, op in operations(document)}
    assert summaries["create_application"] == "Create an application"


def test_bearer_auth_applies_to_everything_but_the_document_and_docs(document: dict) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert document["security"] == [{"bearerAuth": []}]
    for method, path, operation in operations(document):
        if (method, path) in OPEN:
            assert operation["security"] == []
            assert "401" not in operation["responses"]
        else:
            assert "security" not in operation  # the global requirement holds
            assert operation["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
            writes = method != "get" and (method, path) not in READING_POSTS
            assert ("403" in operation["responses"]) == (writes or path.endswith("audit"))


def test_every_answer_carries_x_request_id_and_errors_are_problems(document: dict) -> None:
    responses = document["components"]["responses"]
    for _, _, operation in operations(document):
        assert {"$ref": "#/components/parameters/X-Request-ID"} in operation["parameters"]
        for status, answer in operation["responses"].items():
            answer = responses[answer["$ref"].rsplit("/", 1)[1]] if "$ref" in answer else answer
            assert answer["headers"]["X-Request-ID"] == {
                "$ref": "#/components/headers/X-Request-ID"
            }
            if int(status) >= 400:
                assert answer["content"] == {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) == {"type", "title", "status", "detail", "errors"}
    assert responses["ServiceUnavailable"]["headers"]["Retry-After"]
    assert responses["Unauthorized"]["headers"]["WWW-Authenticate"]


def test_configuration_operations_document_etags_and_conditions(document: dict) -> None:
    item = document["paths"]["/api/v1/configurations/{configuration_id}"]
    parameters = lambda operation: {p["$ref"].rsplit("/", 1)[1] for p in operation["parameters"]}  # noqa: E731
    assert {"If-None-Match", "Prefer"} <= parameters(item["get"])
    assert item["get"]["responses"]["304"] == {"$ref": "#/components/responses/NotModified"}
    assert {"ETag", "Cache-Control", "Preference-Applied"} <= set(
        item["get"]["responses"]["200"]["headers"]
    )
    for method in ("put", "patch", "delete"):
        assert "If-Match" in parameters(item[method])
        assert "412" in item[method]["responses"]
    assert set(item["patch"]["requestBody"]["content"]) == {
        "application/json",
        "application/merge-patch+json",
    }
    created = document["paths"]["/api/v1/configurations"]["post"]["responses"]["201"]
    assert {"Location", "ETag"} <= set(created["headers"])
    assert "GetConfiguration" in created["links"]


def test_schemas_come_from_marshmallow(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    application = schemas["Application"]
    assert application["required"] == ["name"]
    assert application["additionalProperties"] is False  # unknown fields -> 422
    assert application["properties"]["id"]["readOnly"] is True
    assert application["properties"]["name"]["pattern"] == f"^{NAME_PATTERN.pattern}$"
    assert application["properties"]["created_at"]["format"] == "date-time"
    assert "required" not in schemas["ConfigurationPatch"]
    assert set(schemas["ApplicationInput"]["properties"]) == {"name", "comments"}  # no read-only
    assert schemas["Configuration"]["properties"]["schema"]["type"] == ["object", "boolean", "null"]
    assert "default" not in schemas["ApplicationPatch"]["properties"]["comments"]
    lists = document["paths"]["/api/v1/applications"]["get"]["parameters"]
    limit = next(p for p in lists if p.get("name") == "limit")
    assert limit["schema"] == {"type": "integer", "default": 50, "minimum": 1, "maximum": 500}


def validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """Return a validator for one component schema, its references resolved in the document."""
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(document))
    schema = {"$ref": f"urn:doc#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def test_real_answers_match_the_document(client: Any, document: dict[str, Any]) -> None:
    application = create_application(client, comments="payments")
    configuration = create_configuration(client, application["id"], config={"a": [1, {"b": 2}]})
    answers = {
        "Application": client.get(f"/api/v1/applications/{application['id']}"),
        "Configuration": client.get(f"/api/v1/configurations/{configuration['id']}"),
        "ConfigurationList": client.get(f"/api/v1/applications/{application['id']}/configurations"),
        "VersionList": client.get(f"/api/v1/configurations/{configuration['id']}/versions"),
        "Problem": client.post("/api/v1/applications", json={"name": "bad name"}),
    }
    for name, response in answers.items():
        errors = list(validator(document, name).iter_errors(response.get_json()))
        assert errors == [], (name, errors)
