"""Whatever a browser (or anyone) posts to the console's forms, the answer is never a 500,
and nothing is written unless it was a valid, reviewed change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.console import Browser, seed, signed_in

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIELDS = ["raw", "document", "base_version", "field:/db/port", "field:/db/host",
          "field:/debug", "field:/level", "field:/nope", "token", "csrf_token"]  # fmt: skip
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
texts = st.one_of(
    st.text(max_size=300),
    json_values.map(json.dumps),
    st.integers().map(str),
    st.sampled_from(
        ["", "0", "1", "-1", "99999999999", "NaN", "{", "[]", "{}", "\x00", "1e400", "²", "٣"]
    ),
)
forms = st.dictionaries(st.sampled_from(FIELDS), texts, max_size=6)


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def world(app: Any, db: Any) -> dict[str, Any]:
    world = seed(app, db)
    world["browser"] = signed_in(app, db, "alice", "writer")
    world["token"] = world["browser"].form_token("/applications")
    return world


def versions(db: Any) -> int:
    cur = db.cursor()
    cur.execute("SELECT version FROM configurations")
    return cur.fetchone()["version"]


@FUZZ
@given(form=forms, action=st.sampled_from(["review", "save", "edit-again"]), keep=st.booleans())
def test_form_posts_never_fail(world: dict, db: Any, form: dict, action: str, keep: bool) -> None:
    browser: Browser = world["browser"]
    if keep:  # most examples pass the form token check and reach the view
        form = {**form, "csrf_token": world["token"]}
    before = versions(db)
    path = f"/configurations/{world['configuration']['id']}/{action}"
    response = browser.post(path, form)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    if response.status_code != 303:
        assert versions(db) == before  # only a save that answers 303 writes


@FUZZ
@given(form=forms, multipart=st.booleans())
def test_sign_in_posts_never_fail(world: dict, form: dict, multipart: bool) -> None:
    browser = Browser(world["browser"].client.application.test_client())
    response = browser.post(
        "/sign-in", form, content_type=None if not multipart else "multipart/form-data"
    )
    assert response.status_code in (401, 403, 429), response.get_data(as_text=True)
    assert response.mimetype == "text/html"


@FUZZ
@given(path=st.text(max_size=60), query=st.text(max_size=60))
@example(path="", query="\x00")  # no text PostgreSQL can hold
def test_pages_never_fail_for_any_path_or_query(world: dict, path: str, query: str) -> None:
    browser: Browser = world["browser"]
    configuration_id = world["configuration"]["id"]
    for base in ("/applications", f"/configurations/{configuration_id}/history"):
        response = browser.client.get(
            f"/console{base}", query_string={"after": path, "a": query, "b": path, "prefix": query}
        )
        assert response.status_code < 500
    response = browser.client.get("/console/" + path.replace("?", "").replace("#", ""))
    assert response.status_code < 500
