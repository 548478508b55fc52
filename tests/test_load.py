"""Strict JSON parsing: a number is kept exactly, or refused with a 400 naming it."""

from __future__ import annotations

import pytest

from app.documents.load import loads
from tests.helpers import create_application

API = "/api/v1/configurations"


@pytest.mark.parametrize(
    "text", ["1e-400", "0.10000000000000000555", "1.00000000000000000001", "123456789.123456789"]
)
def test_a_float_a_double_cannot_keep_is_refused(client, text):
    application = create_application(client)
    body = '{"application_id": "ID", "name": "c", "config": {"x": NUMBER}}'
    body = body.replace("ID", application["id"]).replace("NUMBER", text)
    response = client.post(API, data=body, content_type="application/json")
    assert response.status_code == 400
    assert f"number {text} cannot be kept exactly" in response.get_json()["detail"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [("0.1", 0.1), ("1.50", 1.5), ("1e20", 1e20), ("-0.0", -0.0), ("5e-324", 5e-324)],
)
def test_a_float_a_double_keeps_is_accepted(text, kept):
    assert loads(f"[{text}]") == [kept]


def test_an_imported_file_follows_the_same_rule(app, tmp_path):
    path = tmp_path / "numbers.json"
    document = '{"format": "config-service/v1", "applications": [{"name": "a", "configurations":'
    path.write_text(document + ' [{"name": "c", "config": {"x": 1e-400}}]}]}')
    result = app.test_cli_runner().invoke(args=["import", str(path)])
    assert result.exit_code == 1
    assert "number 1e-400 cannot be kept exactly" in result.output
