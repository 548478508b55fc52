"""API tokens: their secrets and hashes, and the operations behind `flask tokens`."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from typing import Any

from app.repositories.applications import ApplicationRepository
from app.repositories.tokens import TokenRepository
from app.schemas.common import NAME_PATTERN
from app.web.audit import ANONYMOUS, record

READER, WRITER, ADMIN = "reader", "writer", "admin"
ROLES = (READER, WRITER, ADMIN)
RANK = {role: rank for rank, role in enumerate(ROLES)}
PREFIX = "cs_"  # recognisable in a leaked file or a secret scanner's rules
SECRET_BYTES = 32
SECRET_PATTERN = re.compile(PREFIX + r"[A-Za-z0-9_-]{43,256}")
BOOTSTRAP_NAME = "admin"


class TokenError(Exception):
    """A token command cannot do what was asked."""


def new_secret() -> str:
    """Return a fresh secret: the prefix and 32 random bytes, URL-safe base64."""
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> bytes:
    """Return the SHA-256 of a secret, the only form of it the database keeps.

    A secret holds 256 random bits, so no guessing can invert a fast hash and a slow
    KDF (bcrypt, argon2) would only add its cost to every request. Lookups go by this
    hash, so comparison timing can reveal at most how much of a SHA-256 matched, which
    says nothing about any secret.
    """
    return hashlib.sha256(secret.encode("utf-8")).digest()


def create_token(
    conn: Any, name: str, role: str, actor: str, applications: Iterable[str] = ()
) -> str:
    """Create a token in the caller's transaction; return its secret (shown once). Given
    application names, the token sees only those applications (a scoped token)."""
    if len(name) > 128 or not NAME_PATTERN.fullmatch(name):
        raise TokenError(f"invalid token name {name!r}: use 1-128 of A-Z a-z 0-9 . _ -")
    if name == ANONYMOUS:
        raise TokenError(f"{ANONYMOUS!r} is reserved: it is the actor while auth is off")
    if role not in ROLES:
        raise TokenError(f"invalid role {role!r}: use one of {', '.join(ROLES)}")
    application_ids = {_application_id(conn, application) for application in applications}
    secret = new_secret()
    tokens = TokenRepository(conn)
    if tokens.create(name, role, hash_secret(secret), bool(application_ids)) is None:
        raise TokenError(
            f"a token named {name!r} exists already (names of revoked tokens are not reused)"
        )
    for application_id in sorted(application_ids):
        tokens.add_scope(name, application_id)
    record(conn, "create", "token", name, actor=actor)
    return secret


def _application_id(conn: Any, name: str) -> str:
    """Return the id of the application with this name (scopes keep ids: renames keep access)."""
    row = ApplicationRepository(conn).get_by_name(name) if NAME_PATTERN.fullmatch(name) else None
    if row is None:
        raise TokenError(f"no application named {name!r}")
    return row["id"]


def list_tokens(conn: Any) -> list[dict[str, Any]]:
    """Return every token's name, role and times; never a secret or its hash."""
    return TokenRepository(conn).all()


def revoke_token(conn: Any, name: str, actor: str) -> None:
    """Revoke a live token in the caller's transaction (workers forget it at its NOTIFY)."""
    if TokenRepository(conn).revoke(name) is None:
        raise TokenError(f"no live token named {name!r} (see `flask tokens list`)")
    record(conn, "revoke", "token", name, actor=actor)


def bootstrap_token(conn: Any, actor: str) -> str | None:
    """Create an admin token named `admin` if no token was ever made; return its secret."""
    if TokenRepository(conn).any():
        return None
    try:
        return create_token(conn, BOOTSTRAP_NAME, "admin", actor)
    except TokenError:  # a concurrent bootstrap made it first
        return None
