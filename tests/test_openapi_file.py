"""docs/openapi.json, the OpenAPI document kept in the repository, equals the served one."""

from __future__ import annotations

import json
from typing import Any

from app import create_app
from app.settings import PROJECT_ROOT

COMMITTED = PROJECT_ROOT / "docs" / "openapi.json"
REFRESH = (
    ".venv/bin/python -c 'import json; from app import create_app; "
    'print(json.dumps(create_app().test_client().get("/api/v1/openapi.json").get_json(),'
    " indent=2, ensure_ascii=False))' > docs/openapi.json"
)


def served() -> dict[str, Any]:
    """Return the document the service answers at /api/v1/openapi.json."""
    response = create_app({"TESTING": True}).test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_the_committed_document_is_the_served_one() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == served(), f"docs/openapi.json is stale; refresh it with: {REFRESH}"
