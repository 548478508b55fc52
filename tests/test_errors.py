"""Media types, malformed bodies, size limits and problem details."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.helpers import create_application, create_configuration

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
APPS = "/api/v1/applications"
CONFIGS = "/api/v1/configurations"
UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
# Text that must never reach a client: tracebacks, SQL, driver messages.
LEAKS = [
    "Traceback", 'File "', "psycopg", "SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM",
    "violates", "constraint", "DETAIL:", "CONTEXT:", "<html", "<!doctype",
]  # fmt: skip

# (method, path template, a valid body) for every route that reads a body.
BODY_ROUTES = [
    ("post", APPS, {"name": "created"}),
    ("put", APPS + "/{app}", {"name": "renamed"}),
    ("patch", APPS + "/{app}", {"comments": "patched"}),
    ("post", CONFIGS, {"application_id": "{app}", "name": "created", "config": {"a": 1}}),
    ("put", CONFIGS + "/{conf}", {"name": "renamed", "config": {"a": 2}}),
    ("patch", CONFIGS + "/{conf}", {"config": {"a": 3}}),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in BODY_ROUTES]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Check an RFC 9457 answer with this status, free of leaks; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    text = response.get_data(as_text=True)
    assert not [leak for leak in LEAKS if leak.lower() in text.lower()], text
    assert response.headers.get("X-Request-ID")
    return body


def snapshot(db: Any) -> list[Any]:
    """Return everything the tables hold, to compare before and after a refused write."""
    with db.cursor() as cur:
        cur.execute("SELECT * FROM applications ORDER BY id")
        applications = cur.fetchall()
        cur.execute("SELECT * FROM configurations ORDER BY id")
        return [applications, cur.fetchall()]


@pytest.fixture
def ids(client: Any) -> dict[str, str]:
    """An application with one configuration; the ids fill the route templates."""
    application = create_application(client, "billing", comments="c")
    configuration = create_configuration(client, application["id"], "database", {"a": 0})
    return {"app": application["id"], "conf": configuration["id"]}


def fill(template: Any, ids: dict[str, str]) -> Any:
    """Put real ids into a path or body template."""
    return json.loads(
        json.dumps(template).replace("{app}", ids["app"]).replace("{conf}", ids["conf"])
    )


def send(client: Any, method: str, path: str, ids: dict[str, str], **kwargs: Any) -> Any:
    """Send one request to a route template."""
    return client.open(fill(path, ids), method=method.upper(), **kwargs)


# 415: the body must be sent as application/json


JSON_TEXT = b'{"name": "x"}'
# Request arguments sending a body the API must refuse with 415 (made fresh per test).
FORM_BODIES: dict[str, Callable[[], dict[str, Any]]] = {
    "no content type": lambda: {"data": JSON_TEXT},
    "text/plain": lambda: {"data": JSON_TEXT, "content_type": "text/plain"},
    "text/json": lambda: {"data": JSON_TEXT, "content_type": "text/json"},
    "urlencoded form": lambda: {"data": {"name": "x"}},
    "multipart form": lambda: {"data": {"name": "x", "file": (io.BytesIO(b"{}"), "a.json")}},
    "json-patch": lambda: {"data": b"[]", "content_type": "application/json-patch+json"},
    "no content type, no body": lambda: {},
}


@pytest.mark.parametrize("kind", list(FORM_BODIES))
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_wrong_content_type_is_415(client, db, ids, method, path, body, kind):
    before = snapshot(db)

    response = send(client, method, path, ids, **FORM_BODIES[kind]())

    assert_problem(response, 415)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/json;charset=UTF-8", "Application/JSON"],
)
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_json_with_parameters_is_accepted(client, db, ids, method, path, body, content_type):
    data = json.dumps(fill(body, ids)).encode()

    response = send(client, method, path, ids, data=data, content_type=content_type)

    assert response.status_code == (201 if method == "post" else 200), response.get_json()
    assert response.mimetype == "application/json"


# 400: not JSON at all; 422: JSON but not an object


MALFORMED = {
    "empty": b"",
    "whitespace": b"  \n",
    "truncated": b'{"name": "x"',
    "single quotes": b"{'name': 'x'}",
    "trailing comma": b'{"name": "x",}',
    "trailing garbage": b'{"name": "x"} {}',
    "NaN": b'{"name": "x", "comments": NaN}',
    "Infinity": b'{"config": {"a": Infinity}}',
    "-Infinity": b'{"config": {"a": -Infinity}}',
    "bare NaN": b"NaN",
    "1e400": b'{"config": {"a": 1e400}}',
    "-1e400": b'{"config": {"a": -1e400}}',
    "deep arrays": b"[" * 100_000,
    "deep objects": b'{"a":' * 100_000,
    "invalid utf-8": b'{"name": "\xff\xfe"}',
    "truncated utf-8": b'{"name": "\xc3"}',
    "utf-16": '{"name": "x"}'.encode("utf-16"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_malformed_json_is_400(client, db, ids, method, path, body, kind):
    before = snapshot(db)

    response = send(
        client, method, path, ids, data=MALFORMED[kind], content_type="application/json"
    )

    assert_problem(response, 400)
    assert snapshot(db) == before


@pytest.mark.parametrize("document", [b"[]", b'["x"]', b'"x"', b"1", b"1.5", b"null", b"true"])
@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
def test_json_that_is_not_an_object_is_422(client, db, ids, method, path, body, document):
    before = snapshot(db)

    response = send(client, method, path, ids, data=document, content_type="application/json")

    assert assert_problem(response, 422)["errors"]
    assert snapshot(db) == before


# 413: bodies over MAX_CONTENT_LENGTH, with a Content-Length or chunked


LIMIT = 1000
CHUNKED = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
# gunicorn (and werkzeug's own server) set this for a chunked body: the server ends the
# stream. werkzeug's test client never sets it, so a test has to.
TERMINATED = {"wsgi.input_terminated": True}


def oversized(body: dict[str, Any]) -> bytes:
    """Return `body` as valid JSON padded with whitespace past LIMIT."""
    return json.dumps(body).encode() + b" " * (LIMIT + 10)


class TestBodyLimit:
    """Requests against an app whose MAX_CONTENT_LENGTH is 1000 bytes."""

    @pytest.fixture
    def app_settings(self, app_settings: dict[str, Any]) -> dict[str, Any]:
        return {**app_settings, "MAX_CONTENT_LENGTH": LIMIT}

    @pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_body_over_the_limit_is_413(self, client, db, ids, method, path, body):
        before = snapshot(db)
        data = oversized(fill(body, ids))

        response = send(client, method, path, ids, data=data, content_type="application/json")

        assert_problem(response, 413)
        assert snapshot(db) == before

    def test_body_at_the_limit_is_accepted(self, client, db):
        empty = json.dumps({"name": "fits", "comments": ""}).encode()
        comments = "x" * (LIMIT - len(empty))
        data = json.dumps({"name": "fits", "comments": comments}).encode()
        assert len(data) == LIMIT

        response = client.post(APPS, data=data, content_type="application/json")

        assert response.status_code == 201, response.get_json()
        assert response.get_json()["comments"] == comments

    @pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=ROUTE_IDS)
    def test_chunked_body_over_the_limit_is_413(self, client, db, ids, method, path, body):
        before = snapshot(db)
        stream = io.BytesIO(oversized(fill(body, ids)))

        response = send(
            client, method, path, ids, input_stream=stream, headers=CHUNKED,
            environ_overrides=TERMINATED,
        )  # fmt: skip

        assert_problem(response, 413)
        assert snapshot(db) == before

    def test_chunked_garbage_over_the_limit_is_413(self, client, db):
        stream = io.BytesIO(b"x" * (LIMIT * 5))

        response = client.post(
            APPS, input_stream=stream, headers=CHUNKED, environ_overrides=TERMINATED
        )

        assert_problem(response, 413)
        assert snapshot(db) == [[], []]

    def test_chunked_body_under_the_limit_is_read_whole(self, client, db):
        body = {"name": "chunked", "comments": "c" * 900}
        stream = io.BytesIO(json.dumps(body).encode())

        response = client.post(
            APPS, input_stream=stream, headers=CHUNKED, environ_overrides=TERMINATED
        )

        assert response.status_code == 201, response.get_json()
        assert response.get_json()["comments"] == "c" * 900

    def test_chunked_body_of_exactly_the_limit_is_accepted(self, client, db):
        empty = json.dumps({"name": "fits", "comments": ""}).encode()
        comments = "x" * (LIMIT - len(empty))
        stream = io.BytesIO(json.dumps({"name": "fits", "comments": comments}).encode())

        response = client.post(
            APPS, input_stream=stream, headers=CHUNKED, environ_overrides=TERMINATED
        )

        assert response.status_code == 201, response.get_json()
        assert response.get_json()["comments"] == comments

    def test_chunked_body_the_server_does_not_terminate_is_never_accepted(self, client, db):
        # Without wsgi.input_terminated werkzeug hands the app an empty stream rather
        # than an unbounded one; the service must refuse it, not act on a partial body.
        stream = io.BytesIO(json.dumps({"name": "partial"}).encode())

        response = client.post(APPS, input_stream=stream, headers=CHUNKED)

        assert 400 <= response.status_code < 500
        assert_problem(response, response.status_code)
        assert snapshot(db) == [[], []]


# Routing errors: unknown routes and methods


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1",
        "/api/v1/",
        "/api/v1/nope",
        "/api/v1/applications/",
        "/api/v1/applications/{app}/nope",
        "/api/v1/applications/by-name/",
        "/api/v1/configurations/{conf}/nope/x",
        "/api/v1/applications/not-a-ulid/configurations",
    ],
)
def test_unknown_route_is_404_problem(client, ids, method, path):
    assert_problem(send(client, method, path, ids), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", APPS, {"GET", "POST"}),
        ("PUT", APPS, {"GET", "POST"}),
        ("PATCH", APPS, {"GET", "POST"}),
        ("POST", APPS + "/{app}", {"GET", "PUT", "PATCH", "DELETE"}),
        ("POST", APPS + "/by-name/billing", {"GET"}),
        ("DELETE", APPS + "/by-name/billing", {"GET"}),
        ("POST", APPS + "/{app}/configurations", {"GET"}),
        ("GET", CONFIGS, {"POST"}),
        ("DELETE", CONFIGS, {"POST"}),
        ("POST", CONFIGS + "/{conf}", {"GET", "PUT", "PATCH", "DELETE"}),
        ("PUT", APPS + "/by-name/billing/configurations/database", {"GET"}),
    ],
)
def test_wrong_method_is_405_problem_with_allow(client, db, ids, method, path, allowed):
    before = snapshot(db)

    response = send(client, method, path, ids, json={"name": "x"})

    assert_problem(response, 405)
    allow = {item.strip() for item in response.headers["Allow"].split(",")}
    assert allowed <= allow
    assert method not in allow
    assert snapshot(db) == before


# Every error answer: problem details, the request id, nothing leaked

PUT_STALE = {"json": {"name": "x", "config": {}}, "headers": {"If-Match": '"9"'}}
UNKNOWN_APP = {"application_id": UNKNOWN_ID, "name": "x", "config": {}}
TAKEN_NAME = {"application_id": "{app}", "name": "database", "config": {}}
# method, path, request arguments, status, whether `errors` must be there (None: either way)
ERRORS = [
    ("get", APPS + "/" + UNKNOWN_ID, {}, 404, False),
    ("get", APPS + "/by-name/nope", {}, 404, False),
    ("get", APPS + "?limit=0", {}, 400, True),
    ("get", APPS + "?cursor=bad!", {}, 400, True),
    ("get", APPS + "/{app}/configurations?limit=x", {}, 400, True),
    ("post", APPS, {"json": {"name": "billing"}}, 409, False),
    ("post", APPS, {"json": {"name": "bad name"}}, 422, True),
    ("delete", APPS + "/{app}", {}, 409, False),
    ("delete", APPS + "/{app}?cascade=maybe", {}, 400, True),
    ("post", CONFIGS, {"json": UNKNOWN_APP}, 422, True),
    ("post", CONFIGS, {"json": TAKEN_NAME}, 409, False),
    ("put", CONFIGS + "/{conf}", PUT_STALE, 412, False),
    ("get", CONFIGS + "/" + UNKNOWN_ID, {}, 404, False),
    ("post", CONFIGS, {"data": b"{", "content_type": "application/json"}, 400, None),
    ("post", CONFIGS, {"data": b"[]", "content_type": "application/json"}, 422, True),
    ("post", CONFIGS, {"data": b"{}", "content_type": "text/plain"}, 415, False),
    ("get", "/api/v1/nope", {}, 404, False),
    ("delete", CONFIGS, {}, 405, False),
]
ERROR_IDS = [f"{status} {method} {path}" for method, path, _, status, _ in ERRORS]


def fill_kwargs(kwargs: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Put real ids into the JSON body of request arguments."""
    return {**kwargs, **({"json": fill(kwargs["json"], ids)} if "json" in kwargs else {})}


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "errors"), ERRORS, ids=ERROR_IDS)
def test_errors_are_problem_details_with_a_request_id(
    client, ids, method, path, kwargs, status, errors
):
    response = send(client, method, path, ids, **fill_kwargs(kwargs, ids))

    body = assert_problem(response, status)
    assert set(body) <= {"type", "title", "status", "detail", "errors"}
    if errors is not None:
        assert ("errors" in body) == errors, body


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "errors"), ERRORS, ids=ERROR_IDS)
def test_errors_echo_a_sane_request_id(client, ids, method, path, kwargs, status, errors):
    kwargs = fill_kwargs(kwargs, ids)
    headers = {**kwargs.pop("headers", {}), "X-Request-ID": "trace-42.a_b"}

    response = send(client, method, path, ids, headers=headers, **kwargs)

    assert response.status_code == status
    assert response.headers["X-Request-ID"] == "trace-42.a_b"


# What a problem says: actionable details, RFC 9110 reason phrases, a final newline


@pytest.mark.parametrize(
    ("method", "path", "detail"),
    [
        ("GET", "/nowhere", "No such route: GET /nowhere."),
        ("GET", APPS + "/not-a-ulid", "No such route: GET /api/v1/applications/not-a-ulid."),
        ("DELETE", "/healthz", "DELETE is not allowed on /healthz; it allows GET, HEAD, OPTIONS."),
    ],
)
def test_routing_errors_say_what_was_asked(client, method, path, detail):
    body = client.open(path, method=method).get_json()
    assert body["detail"] == detail
    assert "spelling" not in body["detail"]


def test_a_bad_name_says_which_names_are_valid(client):
    body = assert_problem(client.post(APPS, json={"name": "-bad"}), 422)
    [message] = body["errors"]["name"]
    assert "a letter or digit, then letters, digits, '.', '_' or '-'" in message
    assert "^[A-Za-z0-9][A-Za-z0-9._-]*$" in message


@pytest.mark.parametrize(
    ("kwargs", "status_line"),
    [
        ({"json": {"name": "-bad"}}, "422 Unprocessable Content"),
        ({"data": b"x" * 2_000_000, "content_type": "application/json"}, "413 Content Too Large"),
        ({"data": b"{}", "content_type": "text/plain"}, "415 Unsupported Media Type"),
    ],
)
def test_status_line_says_the_title_and_the_body_ends_with_a_newline(client, kwargs, status_line):
    response = client.post(APPS, **kwargs)
    assert response.status == status_line
    assert response.get_json()["title"] == status_line.split(" ", 1)[1]
    assert response.get_data(as_text=True).endswith("}\n")
