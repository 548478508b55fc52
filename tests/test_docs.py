"""The docs page: Swagger UI from the service itself, nothing fetched from elsewhere."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import create_app

DOCS = "/api/v1/docs"
CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}


def referenced(html: str) -> list[str]:
    """Return every URL the page loads (src and href attributes)."""
    return re.findall(r'(?:src|href)="([^"]*)"', html)


def test_page_references_only_local_assets_and_forbids_others(client: Any) -> None:
    response = client.get(DOCS)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    urls = referenced(response.get_data(as_text=True))
    assert len(urls) >= 4
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy


def test_every_asset_the_page_needs_is_served(client: Any) -> None:
    urls = referenced(client.get(DOCS).get_data(as_text=True))
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rindex(".") :]
        assert response.mimetype == CONTENT_TYPES[suffix], url
        assert len(response.data) > 100, url


def test_the_initializer_loads_our_document_and_never_the_online_validator(client: Any) -> None:
    script = client.get("/static/swagger-ui/config-service.js").get_data(as_text=True)
    assert 'url: "/api/v1/openapi.json"' in script
    assert "validatorUrl: null" in script
    bundle = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and b"SwaggerUIBundle" in bundle.data


def test_page_and_assets_need_no_token_with_auth_on(app_settings: dict[str, Any]) -> None:
    client = create_app({**app_settings, "AUTH_ENABLED": True}).test_client()
    page = client.get(DOCS)
    assert page.status_code == 200
    for url in [*referenced(page.get_data(as_text=True)), "/api/v1/openapi.json"]:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("name", ["nope.js", "../__init__.py", "%2e%2e/__init__.py"])
def test_anything_else_is_a_404_problem(client: Any, name: str) -> None:
    response = client.get(f"/static/swagger-ui/{name}")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_the_initializer_keeps_the_token_over_a_reload(client: Any) -> None:
    script = client.get("/static/swagger-ui/config-service.js").get_data(as_text=True)
    assert "persistAuthorization: true" in script


def test_no_optional_header_is_pre_filled(client: Any) -> None:
    """Try it out fills a parameter's `example` in: an optional header must carry none."""
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = list(document["components"]["parameters"].values())
    for path_item in document["paths"].values():
        inline = [path_item.get("parameters", [])]
        inline += [op.get("parameters", []) for op in path_item.values() if isinstance(op, dict)]
        parameters += [p for group in inline for p in group if "$ref" not in p]
    headers = [p for p in parameters if p["in"] == "header" and not p.get("required")]
    assert {p["name"] for p in headers} >= {"If-Match", "If-None-Match", "Prefer", "X-Request-ID"}
    for parameter in headers:
        assert "example" not in parameter and "examples" not in parameter, parameter["name"]
        assert "example" not in parameter.get("schema", {}), parameter["name"]
        assert "Example:" in parameter["description"], parameter["name"]


@pytest.mark.parametrize(
    "path", ["/static/swagger-ui/swagger-ui.css", "/static/swagger-ui/config-service.js"]
)
def test_assets_carry_the_policy_and_nosniff(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
