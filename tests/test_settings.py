"""Settings: defaults, validation, `.env`, precedence, and start-up refusal in real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import PROJECT_ROOT, SettingsError, load_settings

VENV_BIN = Path(sys.executable).parent


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(environ={}, dotenv_path=tmp_path / "absent.env")
    assert settings["DATABASE_URL"] == "postgresql://localhost/config_service"
    assert settings["DB_POOL_MIN"] == 1
    assert settings["DB_POOL_MAX"] == 10
    assert settings["DB_POOL_TIMEOUT"] == 5
    assert settings["DB_CONNECT_TIMEOUT"] == 5
    assert settings["DB_STATEMENT_TIMEOUT_MS"] == 5000
    assert settings["MAX_CONTENT_LENGTH"] == 1048576
    assert settings["LOG_LEVEL"] == "INFO"
    assert settings["LOG_FORMAT"] == "json"
    assert settings["MIGRATIONS_DIR"] == str(PROJECT_ROOT / "app" / "migrations")


def test_values_are_typed_and_normalised(tmp_path: Path) -> None:
    environ = {"DB_POOL_MAX": " 20 ", "LOG_LEVEL": "debug", "LOG_FORMAT": "TEXT"}
    settings = load_settings(environ=environ, dotenv_path=tmp_path / "absent.env")
    assert settings["DB_POOL_MAX"] == 20
    assert settings["LOG_LEVEL"] == "DEBUG"
    assert settings["LOG_FORMAT"] == "text"


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DB_POOL_MIN": "-1"}, "DB_POOL_MIN"),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN"),
        ({"DB_POOL_TIMEOUT": "0"}, "DB_POOL_TIMEOUT"),
        ({"DB_CONNECT_TIMEOUT": "abc"}, "DB_CONNECT_TIMEOUT"),
        ({"DB_CONNECT_TIMEOUT": ""}, "DB_CONNECT_TIMEOUT"),
        ({"DB_STATEMENT_TIMEOUT_MS": "1.5"}, "DB_STATEMENT_TIMEOUT_MS"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"MAX_CONTENT_LENGTH": "0"}, "MAX_CONTENT_LENGTH"),
        ({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
    ],
)
def test_bad_value_names_the_setting(tmp_path: Path, environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ=environ, dotenv_path=tmp_path / "absent.env")
    message = str(caught.value)
    assert named in message
    assert "\n" not in message


def test_bad_database_url_is_not_echoed(tmp_path: Path) -> None:
    """A connection URL may carry a password: the message names the setting, not the value."""
    with pytest.raises(SettingsError) as caught:
        load_settings(environ={"DATABASE_URL": "s3cret nonsense"}, dotenv_path=tmp_path / "x")
    assert "DATABASE_URL" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DB_POOL_MAX=7\nLOG_FORMAT=text\n# a comment\nDATABASE_URL=host=elsewhere\n")
    settings = load_settings(environ={}, dotenv_path=dotenv)
    assert settings["DB_POOL_MAX"] == 7
    assert settings["LOG_FORMAT"] == "text"
    assert settings["DATABASE_URL"] == "host=elsewhere"


def test_bad_value_in_dotenv_file_is_refused(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("LOG_LEVEL=loud\n")
    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings(environ={}, dotenv_path=dotenv)


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DB_POOL_MAX=7\nDB_POOL_MIN=2\n")
    settings = load_settings(environ={"DB_POOL_MAX": "9"}, dotenv_path=dotenv)
    assert settings["DB_POOL_MAX"] == 9
    assert settings["DB_POOL_MIN"] == 2


def test_overrides_beat_environment_and_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("DB_POOL_MAX=7\nLOG_LEVEL=error\n")
    settings = load_settings(
        {"DB_POOL_MAX": 3, "LOG_LEVEL": "warning", "TESTING": True},
        environ={"DB_POOL_MAX": "9", "LOG_LEVEL": "debug"},
        dotenv_path=dotenv,
    )
    assert settings["DB_POOL_MAX"] == 3
    assert settings["LOG_LEVEL"] == "WARNING"
    assert settings["TESTING"] is True  # unknown keys go through as given


def test_overrides_are_validated_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="DB_POOL_MAX"):
        load_settings({"DB_POOL_MAX": 0}, environ={}, dotenv_path=tmp_path / "absent.env")


def test_dotenv_in_working_directory_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DB_POOL_TIMEOUT=17\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={})["DB_POOL_TIMEOUT"] == 17


def _bad_environment(**bad: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "LOG_", "GUNICORN_"))}
    keep.pop("DATABASE_URL", None)
    keep.pop("MAX_CONTENT_LENGTH", None)
    keep.pop("FLASK_APP", None)
    return {**keep, "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", **bad}


def _assert_one_line_refusal(result: subprocess.CompletedProcess[str], named: str) -> None:
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output
    assert output.count("\n") == 0, output
    assert named in output


BAD_SETTINGS = [
    ("DB_POOL_MIN", "-1"),
    ("DB_CONNECT_TIMEOUT", "abc"),
    ("LOG_FORMAT", "xml"),
    ("DATABASE_URL", "nonsense"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_flask_command_refuses_a_bad_setting(name: str, value: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "migrate", "--status"],
        cwd=PROJECT_ROOT,
        env=_bad_environment(**{name: value}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    _assert_one_line_refusal(result, name)


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_gunicorn_refuses_a_bad_setting(name: str, value: str, tmp_path: Path) -> None:
    environ = _bad_environment(**{name: value}, GUNICORN_BIND="127.0.0.1:0", GUNICORN_WORKERS="1")
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", str(PROJECT_ROOT / "gunicorn.conf.py"), "wsgi:app"],
        cwd=PROJECT_ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.terminate()  # gunicorn's graceful stop, so no worker is left behind
        process.communicate(timeout=30)
        pytest.fail("gunicorn started (or hung) with a bad setting")
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    _assert_one_line_refusal(result, name)


def test_settings_say_where_each_value_came_from(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("AUTH_ENABLED=false\nLOG_FORMAT=text\n")
    settings = load_settings({"LOG_LEVEL": "debug"}, {"LOG_FORMAT": "json"}, dotenv)

    origin = settings["SETTINGS_ORIGIN"]
    assert origin["AUTH_ENABLED"] == f"the file {dotenv}"
    assert origin["LOG_FORMAT"] == "the environment"
    assert origin["LOG_LEVEL"] == "the settings given to create_app"
    assert origin["DB_POOL_MAX"] == "the default"


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"DB_POOL_MAX": "abc"}, "DB_POOL_MAX='abc' must be an integer between 1 and 1000"),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX='0' must be an integer between 1 and 1000"),
        ({"DB_STATEMENT_TIMEOUT_MS": "1.5"}, "must be an integer of at least 0"),
    ],
)
def test_a_bad_integer_gets_its_range(tmp_path: Path, environ: dict[str, str], says: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(says)):
        load_settings(environ=environ, dotenv_path=tmp_path / "absent.env")
