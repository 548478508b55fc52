"""What a read returns: the configuration, its version and ETag, and where it came from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from config_service_client.errors import ConfigServiceError
from config_service_client.target import Target


@dataclass(frozen=True)
class Result:
    """One configuration as read: fresh from the server, or a kept copy when it was not."""

    target: Target
    configuration: dict[str, Any]  # the full representation the server answered
    etag: str
    from_kept_copy: bool = False
    fetched_at: float = field(default_factory=time.time)  # when the server answered it
    error: ConfigServiceError | None = None  # why the kept copy was used

    @property
    def config(self) -> Any:
        return self.configuration.get("config")

    @property
    def version(self) -> Any:
        return self.configuration.get("version")

    @property
    def age(self) -> float:
        """Return the seconds since the server answered this (0-ish when fresh)."""
        return max(0.0, time.time() - self.fetched_at)
