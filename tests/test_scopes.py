"""Scoped tokens: a token made with --application sees only those applications; the rest
answers as if it did not exist."""

from __future__ import annotations

from typing import Any

import pytest

from app.web.tokens import TokenError, create_token
from tests.helpers import assert_problem, create_application, create_configuration, listening
from tests.test_auth import ACCESS_TABLE, CONSOLE, OPEN, _routes, bearer

OWN, FOREIGN = "own", "foreign"
BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
ROUTES_BY_NAME = "/api/v1/applications/by-name/<application_name>/configurations/<name>"
# What a scoped admin gets on a foreign application where it is not a 404.
NOT_404_FOR_FOREIGN = {
    ("/api/v1/applications", "GET"): 200,  # the list, without the foreign application
    ("/api/v1/applications", "HEAD"): 200,
    ("/api/v1/applications", "POST"): 403,  # no new applications, whatever their name
    ("/api/v1/configurations", "POST"): 422,  # application_id of no application it may see
    ("/api/v1/audit", "GET"): 403,  # the log spans every application
    ("/api/v1/audit", "HEAD"): 403,
    ("/api/v1/watch", "POST"): 200,  # nothing to report: the foreign one "does not exist"
}
# The same on its own application, where the answer is not the usual success.
ON_OWN = {
    ("/api/v1/applications", "POST"): 403,
    ("/api/v1/audit", "GET"): 403,
    ("/api/v1/audit", "HEAD"): 403,
    ("/api/v1/applications/<ulid:application_id>", "DELETE"): 409,  # it has configurations
}
BODIES = {
    ("/api/v1/applications", "POST"): {"name": "new"},
    ("/api/v1/configurations", "POST"): {"name": "new", "config": {}},
    ("/api/v1/applications/<ulid:application_id>", "PUT"): {"name": "{app}", "comments": "c"},
    ("/api/v1/applications/<ulid:application_id>", "PATCH"): {"comments": "c"},
    ("/api/v1/configurations/<ulid:configuration_id>", "PUT"): {
        "name": "database",
        "config": {"n": 2},
    },
    ("/api/v1/configurations/<ulid:configuration_id>", "PATCH"): {"config": {"n": 2}},
    ("/api/v1/configurations/<ulid:configuration_id>/environments/<environment>", "PUT"): {
        "patch": {"n": 3}
    },
}


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def world(app: Any, client: Any, db: Any) -> dict[str, Any]:
    """Applications `own` and `foreign`, each with configuration `database` at version 1 and
    an overlay for environment `production`, and a scoped admin token for `own` (the role
    never stands in its way)."""
    admin = bearer(create_token(db, "root", "admin", "test"))
    client.environ_base.update(HTTP_AUTHORIZATION=admin["Authorization"])
    assert client.post("/api/v1/environments", json={"name": "production"}).status_code == 201
    world: dict[str, Any] = {}
    for name in (OWN, FOREIGN):
        application = create_application(client, name)
        configuration = create_configuration(client, application["id"], "database", {"n": 1})
        overlay = f"/api/v1/configurations/{configuration['id']}/environments/production"
        assert client.put(overlay, json={"patch": {"n": 2}}).status_code == 201
        world[name] = {"application": application, "configuration": configuration}
    client.environ_base.pop("HTTP_AUTHORIZATION")
    world["scoped"] = bearer(create_token(db, "team", "admin", "test", [OWN]))
    world["admin"] = admin
    return world


def fill(rule: str, side: dict[str, Any]) -> str:
    """Fill a rule's arguments with one side's application and configuration."""
    application, configuration = side["application"], side["configuration"]
    path = rule.replace("<application_name>", application["name"])
    path = path.replace("configurations/<name>", "configurations/database")
    path = path.replace("<name>", application["name"])
    path = path.replace("<ulid:application_id>", application["id"])
    path = path.replace("<ulid:configuration_id>", configuration["id"])
    path = path.replace("<environment>", "production")
    return path.replace("<int(min=1, max=2147483647):version>", "1")


def body(rule: str, method: str, side: dict[str, Any]) -> Any:
    if rule == "/api/v1/watch":
        return _watch_body(side)
    data = BODIES.get((rule, method))
    if data is None:
        return None
    data = {k: (v.format(app=side["application"]["name"]) if isinstance(v, str) else v)
            for k, v in data.items()}  # fmt: skip
    if rule == "/api/v1/configurations":
        data["application_id"] = side["application"]["id"]
    return data


def _watch_body(side: dict[str, Any]) -> dict[str, Any]:
    """Watch the side's configuration by id and by names, claiming it does not exist."""
    configuration, application = side["configuration"], side["application"]
    by_names = {"application": application["name"], "name": configuration["name"]}
    return {"watch": [{"id": configuration["id"], "etag": None}, {**by_names, "etag": None}]}


ROUTES = [
    (rule, method)
    for rule, method in _routes()
    if ACCESS_TABLE[rule] not in (OPEN, CONSOLE)  # the console's scopes: test_console_access
    and method != "OPTIONS"  # OPTIONS reads nothing
    and not rule.startswith("/api/v1/environments")  # shared by every application: below
]


@pytest.mark.parametrize("side", [OWN, FOREIGN])
@pytest.mark.parametrize(("rule", "method"), ROUTES)
def test_scope_matrix(client: Any, world: dict[str, Any], rule: str, method: str, side) -> None:
    place = world[side]
    response = client.open(
        fill(rule, place), method=method, headers=world["scoped"], json=body(rule, method, place)
    )
    text = response.get_data(as_text=True)
    if side == FOREIGN:
        expected = NOT_404_FOR_FOREIGN.get((rule, method), 404)
        assert response.status_code == expected, text
        assert world[FOREIGN]["application"]["id"] not in text
        assert world[FOREIGN]["configuration"]["id"] not in text
    else:
        assert response.status_code == ON_OWN.get((rule, method), response.status_code), text
        assert response.status_code < 400 or (rule, method) in ON_OWN, text


def test_the_list_shows_only_its_applications(client, world) -> None:
    response = client.get("/api/v1/applications", headers=world["scoped"])
    assert [item["name"] for item in response.get_json()["items"]] == [OWN]
    everything = client.get("/api/v1/applications", headers=world["admin"]).get_json()
    assert len(everything["items"]) == 2


def test_a_cached_answer_is_checked_against_the_scope(app, client, world) -> None:
    listening(app)
    foreign = world[FOREIGN]["configuration"]
    paths = [f"/api/v1/configurations/{foreign['id']}", fill(ROUTES_BY_NAME, world[FOREIGN])]
    for path in paths:
        assert client.get(path, headers=world["admin"]).status_code == 200  # now cached
        assert client.get(path, headers=world["admin"]).status_code == 200
        assert_problem(client.get(path, headers=world["scoped"]), 404)


def test_a_rename_keeps_access_and_a_deletion_leaves_nothing(client, world) -> None:
    own = world[OWN]["application"]
    renamed = client.patch(
        f"/api/v1/applications/{own['id']}", json={"name": "renamed"}, headers=world["scoped"]
    )
    assert renamed.status_code == 200
    path = "/api/v1/applications/by-name/renamed/configurations/database"
    assert client.get(path, headers=world["scoped"]).status_code == 200

    url = f"/api/v1/applications/{own['id']}?cascade=true"
    assert client.delete(url, headers=world["scoped"]).status_code == 204
    # Its last application gone, the token sees nothing: never every application.
    listed = client.get("/api/v1/applications", headers=world["scoped"]).get_json()
    assert listed["items"] == []
    foreign = world[FOREIGN]["configuration"]["id"]
    assert_problem(client.get(f"/api/v1/configurations/{foreign}", headers=world["scoped"]), 404)


def test_a_scope_names_existing_applications(db: Any, world) -> None:
    with pytest.raises(TokenError, match="no application named 'nowhere'"):
        create_token(db, "lost", "reader", "test", ["nowhere"])
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM api_tokens WHERE name = 'lost'")
        assert cur.fetchone()["n"] == 0


def test_tokens_list_shows_the_scope(app: Any, world) -> None:
    runner = app.test_cli_runner()
    made = runner.invoke(
        args=["tokens", "create", "pair", "--role", "reader", "--application", OWN,
              "--application", FOREIGN]
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert f"for {FOREIGN}, {OWN}" in made.output
    listed = {
        line.split()[0]: line.split()[-1]
        for line in runner.invoke(args=["tokens", "list"]).output.splitlines()
    }
    assert listed == {"NAME": "APPLICATIONS", "pair": f"{FOREIGN},{OWN}", "root": "*", "team": OWN}


def test_watching_sees_its_own_configurations_and_nothing_of_the_others(client, world) -> None:
    own = client.post("/api/v1/watch", json=_watch_body(world[OWN]), headers=world["scoped"])
    foreign = client.post(
        "/api/v1/watch", json=_watch_body(world[FOREIGN]), headers=world["scoped"]
    )
    assert [change["index"] for change in own.get_json()["changes"]] == [0, 1]
    assert foreign.status_code == 200 and foreign.get_json() == {"changes": []}
    held = {"watch": [{"id": world[FOREIGN]["configuration"]["id"], "etag": '"1"'}]}
    gone = client.post("/api/v1/watch", json=held, headers=world["scoped"]).get_json()
    assert gone == {"changes": [{"index": 0, "etag": None, "configuration": None}]}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/environments", {"name": "staging"}),
        ("PATCH", "/api/v1/environments/production", {"comments": "c"}),
        ("DELETE", "/api/v1/environments/production", None),
    ],
)
def test_a_scoped_token_cannot_manage_environments(client, world, method, path, body) -> None:
    response = client.open(path, method=method, json=body, headers=world["scoped"])
    assert_problem(response, 403)
    listed = client.get("/api/v1/environments", headers=world["scoped"]).get_json()
    assert [item["name"] for item in listed["items"]] == ["production"]  # reading is fine


def test_a_scoped_token_sees_no_overlay_of_another_application(client, world) -> None:
    for side, status in ((OWN, 200), (FOREIGN, 404)):
        configuration = world[side]["configuration"]["id"]
        base = f"/api/v1/configurations/{configuration}"
        for path in (
            f"{base}/environments", f"{base}/environments/production",
            f"{base}/environments/production/versions", f"{base}?environment=production",
        ):  # fmt: skip
            assert client.get(path, headers=world["scoped"]).status_code == status, path
