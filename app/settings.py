"""Read and validate the service's settings, once, from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from psycopg2 import ProgrammingError
from psycopg2.extensions import parse_dsn

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting has a value the service cannot start with."""


def _integer(low: int, high: int | None = None) -> Callable[[str], int]:
    bound = f"between {low} and {high}" if high is not None else f"of at least {low}"

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise ValueError(f"must be an integer {bound}")
        return value

    return parse


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw.lower()

    return parse


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _text(raw: str) -> str:
    return raw


def _networks(raw: str) -> tuple[Any, ...]:
    try:
        return tuple(ipaddress.ip_network(part.strip()) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ValueError("must be comma-separated IP addresses or CIDR networks") from None


def _dsn(raw: str) -> str:
    try:
        parse_dsn(raw)
    except ProgrammingError:
        raise ValueError("must be a libpq connection URL (postgresql://...)") from None
    return raw


# name -> (default as the environment would spell it, parser)
SETTINGS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "DATABASE_URL": ("postgresql://localhost/config_service", _dsn),
    "DATABASE_LISTEN_URL": ("", _text),  # LISTEN goes direct to PostgreSQL (not via PgBouncer)
    "DB_POOL_MIN": ("1", _integer(0, 1000)),
    "DB_POOL_MAX": ("10", _integer(1, 1000)),
    "DB_POOL_TIMEOUT": ("5", _integer(1, 300)),
    "DB_CONNECT_TIMEOUT": ("5", _integer(1, 300)),
    "DB_STATEMENT_TIMEOUT_MS": ("5000", _integer(0)),
    "MAX_CONTENT_LENGTH": ("1048576", _integer(1)),
    "MAX_PAGE_BYTES": ("4194304", _integer(1)),  # a list page ends once its documents pass it
    "LOG_LEVEL": ("INFO", lambda raw: _choice("debug", "info", "warning", "error")(raw).upper()),
    "LOG_FORMAT": ("json", _choice("json", "text")),
    "MIGRATIONS_DIR": (str(Path(__file__).resolve().parent / "migrations"), _text),
    "AUTH_ENABLED": ("true", _boolean),  # bearer tokens on /api/v1
    "READ_CACHE": ("true", _boolean),  # per-worker cache of reads, kept current by NOTIFY
    "READ_CACHE_MB": ("64", _integer(1, 65536)),
    # answer cached configuration reads ahead of Flask's routing and hooks (app/web/fastpath.py)
    "FAST_PATH": ("true", _boolean),
    # CPU one JSON Schema check may use; past it the write is refused (422), the worker freed.
    "SCHEMA_CHECK_BUDGET_MS": ("250", _integer(10, 10000)),
    # 401s one client address may earn in 10 s before it gets 429s
    "AUTH_FAILURES_ALLOWED": ("20", _integer(1, 1_000_000)),
    # proxies whose X-Forwarded-For names the client (comma-separated IPs or CIDRs)
    "TRUSTED_PROXIES": ("", _networks),
    # hours a web console session lasts after sign-in (8784: a leap year)
    "CONSOLE_SESSION_HOURS": ("8", _integer(1, 8784)),
}


def _parse(name: str, raw: Any) -> Any:
    parser = SETTINGS[name][1]
    try:
        return parser(str(raw).strip() if parser is not _text else str(raw))
    except ValueError as exc:
        reason = str(exc) if "must be" in str(exc) else "is not a valid value"
        # Never echo a connection URL: it may carry a password.
        shown = "" if parser is _dsn else f"={raw!r}"
        raise SettingsError(f"setting {name}{shown} {reason}") from None


def _origin(
    name: str, given: Mapping[str, Any], environ: Mapping[str, str], from_file: Mapping, path: Path
) -> str:
    if name in given:
        return "the settings given to create_app"
    if name in environ:
        return "the environment"
    return f"the file {path}" if from_file.get(name) else "the default"


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: Path | None = None,
) -> dict[str, Any]:
    """Return typed settings: defaults, then `.env`, then the environment, then overrides."""
    environ = os.environ if environ is None else environ
    dotenv_file = dotenv_path if dotenv_path is not None else Path.cwd() / ".env"
    from_file = dotenv_values(dotenv_file) if dotenv_file.is_file() else {}
    overrides = dict(overrides or {})
    settings: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, (default, _) in SETTINGS.items():
        origins[name] = _origin(name, overrides, environ, from_file, dotenv_file)
        raw = overrides.pop(name, environ.get(name, from_file.get(name) or default))
        settings[name] = _parse(name, raw)
    settings["SETTINGS_ORIGIN"] = origins  # where each value came from, for start-up warnings
    if settings["DB_POOL_MIN"] > settings["DB_POOL_MAX"]:
        raise SettingsError("setting DB_POOL_MIN must not exceed DB_POOL_MAX")
    settings.update(overrides)  # anything else (TESTING, …) goes through as given
    return settings
