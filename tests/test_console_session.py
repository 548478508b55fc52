"""The console's sign-in, sessions, form tokens, Origin checks, headers and error pages."""

from __future__ import annotations

import gzip
import re
import threading
import time
from typing import Any

import pytest

from app.web.tokens import create_token, revoke_token
from tests.console import CSP, Browser, hidden, seed, signed_in
from tests.helpers import listening, within_deadline

ENDED = "/console/?ended=1"


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def browser(client: Any) -> Browser:
    return Browser(client)


def cookie_header(response: Any, name: str) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    return header


def test_sign_in_form_has_the_labelled_token_field(browser: Browser) -> None:
    page = browser.get("/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert '<label for="token">Token</label>' in text
    assert '<input id="token" name="token" type="password" autocomplete="off"' in text
    assert ">Sign in</button>" in text
    assert '<html lang="en">' in text and text.count("<h1>") == 1
    assert "<title>Sign in · Config Service</title>" in text


def test_signing_in_sets_a_strict_cookie_and_keeps_the_token_out(browser: Browser, db: Any) -> None:
    secret = create_token(db, "alice", "admin", "test")
    response = browser.sign_in(secret)
    assert response.status_code == 303
    assert response.headers["Location"] == "/console/applications"
    cookie = cookie_header(response, "console_session")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/console/"):
        assert flag in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert secret not in cookie and secret not in response.headers["Location"]
    for path in ("/", "/applications", "/audit"):
        page = browser.get(path, follow_redirects=True)
        assert page.status_code == 200
        assert secret not in page.get_data(as_text=True)
        assert secret not in page.request.url
    stored = db.cursor()
    stored.execute("SELECT id, token_name, csrf FROM console_sessions")
    [row] = stored.fetchall()
    assert row["token_name"] == "alice" and secret not in str(row)


def test_the_cookie_is_secure_over_https(app: Any, db: Any) -> None:
    browser = Browser(app.test_client())
    secret = create_token(db, "alice", "admin", "test")
    page = browser.client.get("/console/", base_url="https://localhost")
    token = hidden(page.get_data(as_text=True), "csrf_token")
    response = browser.client.post(
        "/console/sign-in", data={"token": secret, "csrf_token": token},
        base_url="https://localhost",
    )  # fmt: skip
    assert response.status_code == 303
    assert "Secure" in cookie_header(response, "console_session")


@pytest.mark.parametrize("token", ["", "nonsense", "cs_" + "A" * 43, "revoked"])
def test_a_bad_token_gets_the_form_again_with_one_message(
    browser: Browser, db: Any, token: str
) -> None:
    if token == "revoked":
        token = create_token(db, "gone", "admin", "test")
        revoke_token(db, "gone", "test")
    response = browser.sign_in(token)
    text = response.get_data(as_text=True)
    assert response.status_code == 401
    assert '<p id="message" role="alert">That token is not valid.</p>' in text
    assert token not in text or token == ""
    assert "console_session" not in str(response.headers)


def test_repeated_bad_tokens_are_slowed_like_the_api(app_settings: dict, make_app: Any) -> None:
    app = make_app(**{**app_settings, "AUTH_FAILURES_ALLOWED": 2})
    browser = Browser(app.test_client())
    statuses = [browser.sign_in("cs_" + "B" * 43).status_code for _ in range(4)]
    assert statuses[:2] == [401, 401] and statuses[-1] == 429


def test_sign_out_ends_the_session(app: Any, db: Any) -> None:
    browser = signed_in(app, db, "alice", "admin")
    token = browser.form_token("/applications")
    response = browser.post("/sign-out", {"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    assert "console_session=;" in cookie_header(response, "console_session")
    cur = db.cursor()
    cur.execute("SELECT count(*) AS n FROM console_sessions")
    assert cur.fetchone()["n"] == 0
    assert browser.get("/applications").headers["Location"] == "/console/"


def test_without_a_session_pages_lead_to_sign_in(browser: Browser) -> None:
    response = browser.get("/applications")
    assert response.status_code == 303 and response.headers["Location"] == "/console/"


def test_revoking_the_token_ends_the_session_at_the_next_request(app: Any, db: Any) -> None:
    listening(app)
    browser = signed_in(app, db, "alice", "admin")
    assert browser.get("/applications").status_code == 200
    revoke_token(db, "alice", "test")
    answers: list[Any] = []
    within_deadline(
        lambda: answers.append(browser.get("/applications")) or answers[-1].status_code != 200
    )
    ended = answers[-1]
    assert ended.status_code == 303 and ended.headers["Location"] == ENDED
    page = browser.get("/?ended=1").get_data(as_text=True)
    assert '<p id="message" role="alert">Your session has ended. Sign in again.</p>' in page
    cur = db.cursor()
    cur.execute("SELECT count(*) AS n FROM console_sessions")
    assert cur.fetchone()["n"] == 0


def test_an_expired_session_ends(app: Any, db: Any) -> None:
    browser = signed_in(app, db, "alice", "admin")
    db.cursor().execute("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    response = browser.get("/applications")
    assert response.status_code == 303 and response.headers["Location"] == ENDED
    token = browser.form_token("/")
    posted = browser.post("/sign-out", {"csrf_token": token})
    assert posted.headers["Location"] != "/console/applications"


def test_sessions_last_the_configured_hours(app_settings: dict, make_app: Any, db: Any) -> None:
    app = make_app(**{**app_settings, "CONSOLE_SESSION_HOURS": 2})
    signed_in(app, db, "alice", "admin")
    cur = db.cursor()
    cur.execute("SELECT expires_at - created_at AS length FROM console_sessions")
    assert cur.fetchone()["length"].total_seconds() == 2 * 3600


WRITE_FORM = "/configurations/{id}/save"


@pytest.mark.parametrize("token", [None, "", "tampered", "other-session"])
def test_a_post_without_its_form_token_is_refused_and_writes_nothing(
    app: Any, db: Any, token: str | None
) -> None:
    world = seed(app, db)
    configuration = world["configuration"]
    browser = signed_in(app, db, "alice", "writer")
    data = {"base_version": "1", "document": '{"db": {"host": "evil"}}'}
    if token == "tampered":
        data["csrf_token"] = browser.form_token("/applications")[:-2] + "xx"
    elif token == "other-session":
        data["csrf_token"] = signed_in(app, db, "bob", "writer").form_token("/applications")
    elif token is not None:
        data["csrf_token"] = token
    response = browser.post(WRITE_FORM.format(id=configuration["id"]), data)
    text = response.get_data(as_text=True)
    assert response.status_code == 403 and response.mimetype == "text/html"
    assert "This form has expired or was not sent by this console." in text
    cur = db.cursor()
    cur.execute("SELECT version, config FROM configurations")
    assert cur.fetchone() == {"version": 1, "config": configuration["config"]}


def test_sign_in_needs_the_form_token_of_its_own_form(browser: Browser, db: Any) -> None:
    secret = create_token(db, "alice", "admin", "test")
    response = browser.post("/sign-in", {"token": secret})
    assert response.status_code == 403
    assert "console_session" not in str(response.headers)


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://localhost.evil"])
def test_a_post_from_another_origin_is_refused(app: Any, db: Any, origin: str) -> None:
    world = seed(app, db)
    browser = signed_in(app, db, "alice", "writer")
    token = browser.form_token("/applications")
    data = {"csrf_token": token, "base_version": "1", "document": "{}"}
    path = WRITE_FORM.format(id=world["configuration"]["id"])
    response = browser.post(path, data, headers={"Origin": origin})
    assert response.status_code == 403, response.get_data(as_text=True)
    assert "another site" in response.get_data(as_text=True)
    cur = db.cursor()
    cur.execute("SELECT version FROM configurations")
    assert cur.fetchone()["version"] == 1
    same = browser.post(path, data, headers={"Origin": "http://localhost"})
    assert same.status_code == 303


def test_with_auth_off_no_sign_in_but_forms_are_still_checked(
    app_settings: dict, make_app: Any, db: Any
) -> None:
    app = make_app(**{**app_settings, "AUTH_ENABLED": False})
    world = seed(app, db)
    browser = Browser(app.test_client())
    assert browser.get("/").headers["Location"] == "/console/applications"
    page = browser.get("/applications").get_data(as_text=True)
    assert "Sign out" not in page and "billing" in page
    path = WRITE_FORM.format(id=world["configuration"]["id"])
    assert browser.post(path, {"base_version": "1", "document": "{}"}).status_code == 403
    token = browser.form_token(f"/configurations/{world['configuration']['id']}/edit")
    saved = browser.post(path, {"base_version": "1", "document": "{}", "csrf_token": token})
    assert saved.status_code == 303
    cur = db.cursor()
    cur.execute("SELECT actor FROM audit_log WHERE action = 'update'")
    assert cur.fetchone()["actor"] == "anonymous"


PAGES = [
    "/",
    "/applications",
    "/applications/{app}",
    "/configurations/{conf}",
    "/configurations/{conf}/edit",
    "/configurations/{conf}/history",
    "/configurations/{conf}/environments",
    "/configurations/{conf}/schema",
    "/audit",
    "/nothing-here",
    "/configurations/{conf}/nope",
    "/static/console.css",
    "/static/console.js",
]


def test_every_console_answer_carries_the_policy(app: Any, db: Any) -> None:
    world = seed(app, db)
    browser = signed_in(app, db, "alice", "admin")
    ids = {"app": world["application"]["id"], "conf": world["configuration"]["id"]}
    titles = set()
    for path in PAGES:
        response = browser.get(path.format(**ids))
        headers = response.headers
        assert headers["Content-Security-Policy"] == CSP, path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["Referrer-Policy"] == "same-origin", path
        if not path.startswith("/static/"):
            assert headers["Cache-Control"] == "no-store", path
        text = response.get_data(as_text=True)
        if response.mimetype == "text/html":
            assert " style=" not in text and "<style" not in text, path
            assert not re.search(r"<script(?![^>]*\ssrc=)", text), path
            assert text.count("<h1") == 1, path
            titles.add(re.search(r"<title>(.*?)</title>", text).group(1))
    assert len(titles) >= 10  # unique per page (the two 404s share theirs)


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/console/nothing", 404),
        ("GET", "/console/configurations/01ARZ3NDEKTSV4RRFFQ69G5FAV", 404),
        ("DELETE", "/console/applications", 405),
        ("GET", "/console/applications?prefix=%00", 400),
        ("GET", "/console/configurations/01ARZ3NDEKTSV4RRFFQ69G5FAV/watch", 400),
    ],
)
def test_console_errors_are_html_pages(
    app: Any, db: Any, method: str, path: str, status: int
) -> None:
    browser = signed_in(app, db, "alice", "admin")
    response = browser.client.open(path, method=method)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert "<h1>" in text and '<main id="main">' in text
    assert response.headers["Content-Security-Policy"] == CSP


def test_a_body_too_large_is_an_html_413(app: Any, db: Any) -> None:
    browser = signed_in(app, db, "alice", "admin")
    big = "x" * (4 * app.config["MAX_CONTENT_LENGTH"] + 10)
    token = browser.form_token("/applications")
    response = browser.post("/sign-in", {"token": big, "csrf_token": token})
    assert response.status_code == 413 and response.mimetype == "text/html"


def test_the_api_still_answers_problems(client: Any) -> None:
    response = client.get("/api/v1/nothing")
    assert response.mimetype == "application/problem+json"


def test_the_sign_in_form_token_cookie_is_strict_too(browser: Browser) -> None:
    cookie = cookie_header(browser.get("/"), "console_csrf")
    for flag in ("HttpOnly", "SameSite=Strict", "Path=/console/"):
        assert flag in cookie


def test_pages_stay_light(app: Any, db: Any) -> None:
    """An edit page within 40 KB gzipped without its document; style and script within 3 KB."""
    world = seed(app, db, config={})
    browser = signed_in(app, db, "alice", "admin")
    edit = browser.get(f"/configurations/{world['configuration']['id']}/edit").data
    assert len(gzip.compress(edit)) <= 40 * 1024
    for name in ("console.css", "console.js"):
        assert len(gzip.compress(browser.get(f"/static/{name}").data)) <= 3 * 1024, name


def test_a_session_revoked_during_a_wait_ends_it(app: Any, db: Any) -> None:
    listening(app)
    world = seed(app, db)
    browser = signed_in(app, db, "alice", "admin")
    configuration_id = world["configuration"]["id"]
    results: list[Any] = []
    waiting = threading.Thread(
        target=lambda: results.append(
            browser.get(f"/configurations/{configuration_id}/watch?version=1&wait=10")
        )
    )
    with app.app_context():  # the thread's requests get their own context
        waiting.start()
        time.sleep(0.5)
        revoke_token(db, "alice", "test")  # its NOTIFY wakes the wait, which checks again
        waiting.join(10)
    assert results and results[0].status_code == 303
    assert results[0].headers["Location"] == ENDED
