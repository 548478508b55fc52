"""What to read or watch: a configuration by id, or by application and name."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Target:
    """One configuration: `Target(id=...)` or `Target(application=..., name=...)`."""

    application: str | None = None
    name: str | None = None
    id: str | None = None
    environment: str | None = None

    def __post_init__(self) -> None:
        if bool(self.id) == bool(self.application and self.name):
            raise ValueError("give either an id, or an application and a name")

    def path(self) -> str:
        """Return the GET path under the API root, with `?environment=` when set."""
        if self.id:
            path = f"/api/v1/configurations/{quote(self.id, safe='')}"
        else:
            app, name = quote(self.application or "", safe=""), quote(self.name or "", safe="")
            path = f"/api/v1/applications/by-name/{app}/configurations/{name}"
        if self.environment:
            path += "?" + urlencode({"environment": self.environment})
        return path

    def watch_entry(self, etag: str | None) -> dict[str, Any]:
        """Return this target's entry in a POST /watch body."""
        entry: dict[str, Any] = (
            {"id": self.id} if self.id else {"application": self.application, "name": self.name}
        )
        if self.environment:
            entry["environment"] = self.environment
        entry["etag"] = etag
        return entry

    def label(self) -> str:
        """Return a short human name, e.g. `billing/database [production]`."""
        text = self.id or f"{self.application}/{self.name}"
        return f"{text} [{self.environment}]" if self.environment else text

    def file_stem(self) -> str:
        """Return a file name safe for any target: a readable slug plus a hash of the key."""
        parts = [self.id] if self.id else [self.application, self.name]
        key = "\0".join(str(p) for p in [*parts, self.environment or ""])
        slug = UNSAFE.sub("_", "__".join(p for p in [*parts, self.environment] if p))
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return f"{slug.strip('._')[:80] or 'configuration'}-{digest}"


def as_target(item: Target | tuple[str, ...], environment: str | None = None) -> Target:
    """Accept a Target, or an (application, name) or (application, name, environment) tuple."""
    if isinstance(item, Target):
        return item
    if len(item) == 2:
        return Target(application=item[0], name=item[1], environment=environment)
    if len(item) == 3:
        return Target(application=item[0], name=item[1], environment=item[2])
    raise ValueError(f"not a configuration to watch: {item!r}")
