"""The `flask` commands of the service: one module per command group."""

from __future__ import annotations

from flask import Flask


def register_commands(app: Flask) -> None:
    """Add the service's commands to `flask`."""
    from app.cli.migrate import migrate_command
    from app.cli.tokens import tokens_group
    from app.cli.transfer import export_command, import_command

    for command in (migrate_command, tokens_group, export_command, import_command):
        app.cli.add_command(command)
