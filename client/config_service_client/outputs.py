"""What `watch` writes: one JSON file per configuration, replaced atomically, then a command."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config_service_client.files import read_bytes, write_atomic
from config_service_client.target import Target
from config_service_client.watch import Change

log = logging.getLogger("config_service_client")


def output_paths(
    targets: Sequence[Target], output: str | None, output_dir: str | None
) -> dict[Target, Path]:
    """Map each target to its file: FILE for one, else DIR/APP/NAME.json."""
    if output:
        return {targets[0]: Path(output)}
    folder = Path(output_dir or ".")
    paths = {}
    for target in targets:
        parts = (target.application or "", target.name or "")
        if any(p in ("", ".", "..") or "/" in p or "\0" in p for p in parts):
            raise ValueError(f"cannot make a file name of {target.label()!r}")
        paths[target] = folder / parts[0] / f"{parts[1]}.json"
    return paths


def render(config: Any) -> bytes:
    """Return the file content for a config: indented JSON and a final newline."""
    return (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class Outputs:
    """Write a changed config to its file (never the same content twice), then run CMD."""

    def __init__(self, paths: dict[Target, Path], command: str | None):
        self.paths, self.command = paths, command

    def write(self, change: Change) -> None:
        """Replace the target's file if its content differs, and run the command if it did."""
        path, result = self.paths[change.target], change.result
        content = render(result.config)
        if read_bytes(path) == content:
            log.info("%s is up to date (version %s)", path, result.version)
            return
        write_atomic(path, content)
        origin = " from the kept copy" if result.from_kept_copy else ""
        log.info("wrote %s (version %s%s)", path, result.version, origin)
        if self.command:
            self._run(path)

    def _run(self, path: Path) -> None:
        env = {**os.environ, "CONFIG_SERVICE_OUTPUT": str(path)}
        status = subprocess.run(self.command, shell=True, env=env, check=False).returncode  # noqa: S602
        if status != 0:
            log.warning("--exec command exited with %s after writing %s", status, path)
