"""Bearer tokens, roles, and the route x method x role matrix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from app import create_app
from app.web.tokens import create_token, new_secret, revoke_token
from app.worker import current_worker
from tests.helpers import listening, within_deadline

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
ROLES = ("reader", "writer", "admin")
READS = {"GET", "HEAD", "OPTIONS"}

OPEN, RESOURCE, READ_ONLY, ADMIN = "open", "resource", "read-only", "admin"
# The web console signs people in with a session cookie, never a bearer token: without a
# session a page sends the browser to sign-in (303) and a form post without the form's
# token is refused (403), whatever token the request carries (tests/test_console*.py).
CONSOLE = "console"
ADMIN_WRITES = "admin-writes"  # read by readers, written by admins only
# Every route the app serves and who may use it: OPEN to anyone, RESOURCE read by
# readers and written by writers, READ_ONLY used by readers whatever the method (a POST
# that only reads), ADMIN_WRITES read by readers and written by admins, ADMIN for admins
# only. A route missing here fails
# the matrix: decide its access, add it here (and to app/auth.py ACCESS if its
# blueprint is new; until then it is admin-only).
ACCESS_TABLE = {
    "/healthz": OPEN,
    "/readyz": OPEN,
    "/metrics": OPEN,
    "/api/v1/openapi.json": OPEN,
    "/api/v1/docs": OPEN,
    "/static/swagger-ui/<path:filename>": OPEN,
    "/api/v1/applications": RESOURCE,
    "/api/v1/applications/<ulid:application_id>": RESOURCE,
    "/api/v1/applications/by-name/<name>": RESOURCE,
    "/api/v1/applications/<ulid:application_id>/configurations": RESOURCE,
    "/api/v1/applications/by-name/<application_name>/configurations/<name>": RESOURCE,
    "/api/v1/configurations": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/versions": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/versions/"
    "<int(min=1, max=2147483647):version>": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/versions/"
    "<int(min=1, max=2147483647):version>/restore": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/versions/"
    "<int(min=1, max=2147483647):version>/diff": RESOURCE,
    "/api/v1/watch": READ_ONLY,
    "/api/v1/environments": ADMIN_WRITES,
    "/api/v1/environments/<name>": ADMIN_WRITES,
    "/api/v1/configurations/<ulid:configuration_id>/environments": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/environments/<environment>": RESOURCE,
    "/api/v1/configurations/<ulid:configuration_id>/environments/<environment>/versions": (
        RESOURCE
    ),
    "/api/v1/configurations/<ulid:configuration_id>/environments/<environment>/versions/"
    "<int(min=1, max=2147483647):version>/diff": RESOURCE,
    "/api/v1/audit": ADMIN,
    **{
        rule: CONSOLE
        for rule in (
            "/console/",
            "/console/sign-in",
            "/console/sign-out",
            "/console/static/<path:filename>",
            "/console/applications",
            "/console/applications/<ulid:application_id>",
            "/console/audit",
            "/console/configurations/<ulid:configuration_id>",
            "/console/configurations/<ulid:configuration_id>/edit",
            "/console/configurations/<ulid:configuration_id>/review",
            "/console/configurations/<ulid:configuration_id>/edit-again",
            "/console/configurations/<ulid:configuration_id>/save",
            "/console/configurations/<ulid:configuration_id>/watch",
            "/console/configurations/<ulid:configuration_id>/history",
            "/console/configurations/<ulid:configuration_id>/history/"
            "<int(min=1, max=2147483647):version>/restore",
            "/console/configurations/<ulid:configuration_id>/environments",
            "/console/configurations/<ulid:configuration_id>/schema",
        )
    },
}
_ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>")
_SAMPLE = {"ulid": UNKNOWN_ID, "int": "1"}


def _routes() -> list[tuple[str, str]]:
    """Every (rule, method) the app serves; building an app opens no connection."""
    app = create_app({"DATABASE_URL": "postgresql://localhost/unused", "AUTH_ENABLED": True})
    return sorted(
        (rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods
    )


def url_for_rule(rule: str) -> str:
    """Fill a rule's arguments with harmless values of the right shape."""
    return _ARGUMENT.sub(lambda m: _SAMPLE.get(m.group(1) or "", "x"), rule)


def expected(kind: str, method: str, role: str | None) -> str:
    """Return `allowed`, 401 or 403 for this access kind, method and role."""
    if kind == OPEN:
        return "allowed"
    if kind == CONSOLE:
        return "allowed" if method in READS else "403"
    if role is None:
        return "401"
    if kind == ADMIN or (kind == ADMIN_WRITES and method not in READS):
        needed = "admin"
    else:
        needed = "reader" if method in READS or kind == READ_ONLY else "writer"
    return "allowed" if ROLES.index(role) >= ROLES.index(needed) else "403"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def tokens(db: Any) -> dict[str, str]:
    """One live token per role, named after it: role -> secret."""
    return {role: create_token(db, role, role, "test") for role in ROLES}


def test_every_route_has_an_access_rule() -> None:
    missing = sorted({rule for rule, _ in _routes()} - set(ACCESS_TABLE))
    assert not missing, f"routes without an access rule in ACCESS_TABLE: {missing}"


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize(("rule", "method"), _routes())
def test_route_matrix(client: Any, tokens: dict[str, str], rule: str, method: str, role) -> None:
    assert rule in ACCESS_TABLE, f"{rule} has no access rule: add it to ACCESS_TABLE"
    headers = bearer(tokens[role]) if role else {}
    response = client.open(url_for_rule(rule), method=method, headers=headers, json={})
    outcome = "allowed" if response.status_code not in (401, 403) else str(response.status_code)
    assert outcome == expected(ACCESS_TABLE[rule], method, role), response.get_data(True)
    assert response.status_code < 500, response.get_data(True)


def assert_unauthorized(response: Any) -> dict[str, Any]:
    assert response.status_code == 401, response.get_data(True)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    return body


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token cs_x",
        "Bearer not-one-of-ours",
        "Bearer cs_short",
        f"Bearer {new_secret()}",  # well formed, never issued
        f"Bearer {new_secret()} extra",
        f"Bearer {new_secret()}\x00",
    ],
)
def test_missing_malformed_or_unknown_token_is_401(client: Any, tokens, authorization) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = assert_unauthorized(client.get("/api/v1/applications", headers=headers))
    assert "cs_" not in body["detail"]


def test_scheme_is_case_insensitive(client: Any, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"bearer {tokens['reader']}"}
    assert client.get("/api/v1/applications", headers=headers).status_code == 200


def test_unknown_api_path_needs_a_token_first(client: Any, tokens: dict[str, str]) -> None:
    assert_unauthorized(client.get("/api/v1/no-such-thing"))
    assert_unauthorized(client.delete("/api/v1/applications"))  # would be a 405
    reader = bearer(tokens["reader"])
    assert client.get("/api/v1/no-such-thing", headers=reader).status_code == 404
    assert client.delete("/api/v1/applications", headers=reader).status_code == 405


def test_revoked_token_fails_in_every_worker_within_a_second(
    app: Any, make_app: Any, app_settings: dict[str, Any], db: Any, tokens: dict[str, str]
) -> None:
    other = make_app(**app_settings)  # a second worker: its own pool, memory and cache
    listening(app, other)  # so both cache the token (tests/test_cache.py has the details)
    clients = [app.test_client(), other.test_client()]
    writer = bearer(tokens["writer"])
    for client in clients:
        assert client.get("/api/v1/applications", headers=writer).status_code == 200
    revoke_token(db, "writer", "test")
    for client in clients:
        within_deadline(
            lambda client=client: (
                client.get("/api/v1/applications", headers=writer).status_code == 401
            )
        )
        assert_unauthorized(client.get("/api/v1/applications", headers=writer))


@pytest.mark.parametrize(
    ("role", "method", "path", "body"),
    [
        ("reader", "POST", "/api/v1/applications", {"name": "billing"}),
        ("reader", "PUT", f"/api/v1/applications/{UNKNOWN_ID}", {"name": "billing"}),
        ("reader", "PATCH", f"/api/v1/configurations/{UNKNOWN_ID}", {"comments": "x"}),
        ("reader", "DELETE", f"/api/v1/configurations/{UNKNOWN_ID}", None),
        ("reader", "POST", f"/api/v1/configurations/{UNKNOWN_ID}/versions/1/restore", None),
        ("reader", "GET", "/api/v1/audit", None),
        ("writer", "GET", "/api/v1/audit", None),
    ],
)
def test_role_too_weak_is_403_and_writes_nothing(
    client: Any, db: Any, tokens: dict[str, str], role: str, method: str, path: str, body
) -> None:
    response = client.open(path, method=method, json=body, headers=bearer(tokens[role]))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 403
    with db.cursor() as cur:
        cur.execute(
            "SELECT (SELECT count(*) FROM applications) AS apps,"
            " (SELECT count(*) FROM audit_log WHERE resource_type <> 'token') AS audit"
        )
        assert cur.fetchone() == {"apps": 0, "audit": 0}


def test_open_paths_need_no_token(client: Any) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_auth_disabled_answers_without_a_token(app_settings: dict[str, Any]) -> None:
    app = create_app({**app_settings, "AUTH_ENABLED": False})
    assert app.test_client().get("/api/v1/applications").status_code == 200


def last_used(db: Any, name: str) -> Any:
    with db.cursor() as cur:
        cur.execute("SELECT last_used_at FROM api_tokens WHERE name = %s", (name,))
        return cur.fetchone()["last_used_at"]


def test_last_used_is_kept_fresh_without_a_write_per_request(
    app: Any, client: Any, db: Any, tokens: dict[str, str]
) -> None:
    assert last_used(db, "reader") is None
    client.get("/api/v1/applications", headers=bearer(tokens["reader"]))
    first = last_used(db, "reader")
    assert first is not None
    client.get("/api/v1/applications", headers=bearer(tokens["reader"]))
    assert last_used(db, "reader") == first  # within the minute: no write
    with db.cursor() as cur:
        cur.execute("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes'")
    stale = last_used(db, "reader")
    client.get("/api/v1/applications", headers=bearer(tokens["reader"]))
    assert last_used(db, "reader") == stale  # this process touched it under a minute ago
    app.extensions["tokens_touched"].clear()  # as if a minute had passed
    client.get("/api/v1/applications", headers=bearer(tokens["reader"]))
    assert last_used(db, "reader") > stale


def test_tokens_never_reach_the_logs(
    app_settings: dict[str, Any], db: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    app = create_app({**app_settings, "LOG_LEVEL": "DEBUG", "LOG_FORMAT": "text"})
    secrets = {role: create_token(db, role, role, "test") for role in ROLES}
    client = app.test_client()
    client.post("/api/v1/applications", json={"name": "a"}, headers=bearer(secrets["writer"]))
    client.get("/api/v1/audit", headers=bearer(secrets["reader"]))  # 403
    client.get("/api/v1/applications", headers=bearer(secrets["reader"] + "x"))  # 401
    client.get("/api/v1/applications?token=" + secrets["admin"], headers=bearer(secrets["admin"]))
    out, err = capfd.readouterr()
    assert "GET /api/v1/applications" in err  # the request log was captured
    for secret in secrets.values():
        assert secret not in out + err
        assert secret[3:] not in out + err


@pytest.mark.parametrize(
    ("environ", "origin"), [({}, "the file"), ({"AUTH_ENABLED": "0"}, "the environment")]
)
def test_auth_off_is_a_warning_at_start_up(
    app_settings: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    environ: dict[str, str],
    origin: str,
) -> None:
    # a stray .env in the working directory, as `load_settings` reads it
    (tmp_path / ".env").write_text("AUTH_ENABLED=false\n")
    monkeypatch.chdir(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = {k: v for k, v in app_settings.items() if k != "AUTH_ENABLED"}
    capfd.readouterr()

    app = create_app({**settings, "LOG_FORMAT": "text"})
    current_worker(app).shutdown()

    assert app.config["AUTH_ENABLED"] is False
    [line] = [line for line in capfd.readouterr().err.splitlines() if "AUTH_ENABLED" in line]
    assert " WARNING " in line
    assert f"AUTH_ENABLED is false (from {origin}" in line


def test_auth_on_gives_no_warning(
    app_settings: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    current_worker(create_app({**app_settings, "AUTH_ENABLED": True})).shutdown()
    assert "AUTH_ENABLED" not in capfd.readouterr().err


def test_a_token_refused_for_its_role_is_still_marked_used(
    client: Any, db: Any, tokens: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/applications", json={"name": "a"}, headers=bearer(tokens["reader"])
    )
    assert response.status_code == 403
    assert last_used(db, "reader") is not None
