"""The WSGI entry point for gunicorn and the `flask` command."""

import sys

from app import create_app
from app.settings import SettingsError

try:
    app = create_app()
except SettingsError as exc:
    sys.exit(f"config-service: {exc}")
