"""`flask` commands never fall back to the default URL beside the embedded dev database."""

from __future__ import annotations

from pathlib import Path

import pytest

import app.cli.database
from app import create_app
from app.settings import SETTINGS

DEFAULT_URL = SETTINGS["DATABASE_URL"][0]
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/x?connect_timeout=1"


@pytest.mark.parametrize("args", [["migrate"], ["tokens", "list"], ["export", "-o", "-"]])
def test_default_url_is_refused_where_make_run_serves_the_embedded_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    monkeypatch.setattr(app.cli.database, "EMBEDDED_DATA_DIR", tmp_path)
    runner = create_app({"DATABASE_URL": DEFAULT_URL, "TESTING": True}).test_cli_runner()

    result = runner.invoke(args=args)

    assert result.exit_code == 1
    assert result.output.startswith("Error: DATABASE_URL is not set")
    assert 'make flask ARGS="..."' in result.output and "Traceback" not in result.output


def test_a_set_url_is_used_even_beside_the_embedded_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(app.cli.database, "EMBEDDED_DATA_DIR", tmp_path)
    runner = create_app({"DATABASE_URL": UNREACHABLE, "TESTING": True}).test_cli_runner()

    result = runner.invoke(args=["tokens", "list"])

    assert result.exit_code == 1
    assert "cannot reach the database" in result.output
