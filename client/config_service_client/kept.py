"""Kept copies: each configuration's last fresh answer, on disk, for when the server is down."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from config_service_client.files import read_bytes, write_atomic
from config_service_client.target import Target

FORMAT = "config-service-client/kept-copy/v1"
log = logging.getLogger("config_service_client")


class KeptCopies:
    """One folder of kept copies; several processes may share it (writes are atomic renames)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def path(self, target: Target) -> Path:
        """Return the file that keeps this target's copy."""
        return self.folder / f"{target.file_stem()}.json"

    def save(self, target: Target, etag: str, configuration: dict[str, Any]) -> None:
        """Keep a fresh answer; a failure to write is logged, never raised."""
        record = {
            "format": FORMAT,
            "target": target.watch_entry(etag),
            "etag": etag,
            "version": configuration.get("version"),
            "fetched_at": time.time(),
            "configuration": configuration,
        }
        data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        try:
            write_atomic(self.path(target), data, mode=0o600)  # configs may hold secrets
        except OSError as exc:
            log.warning("could not keep a copy of %s in %s: %s", target.label(), self.folder, exc)

    def load(self, target: Target) -> dict[str, Any] | None:
        """Return the kept record for this target, or None when there is none usable."""
        data = read_bytes(self.path(target))
        if data is None:
            return None
        try:
            record = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring the unreadable kept copy %s", self.path(target))
            return None
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            return None
        if record.get("target") != target.watch_entry(record.get("etag")):
            return None  # a hash collision, or a file copied from elsewhere
        return record
