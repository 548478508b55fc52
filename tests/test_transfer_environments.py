"""Export and import of environments and overlays (format config-service/v2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import create_application, create_configuration
from tests.test_environments import create_environment
from tests.test_transfer import empty_app, exported, flask, imported  # noqa: F401 - fixtures

API = "/api/v1/configurations"
SCHEMA = {"type": "object", "properties": {"port": {"type": "integer"}}}


def _populate(client: Any) -> str:
    create_environment(client, "staging", comments="pre")
    create_environment(client, "production")
    create_environment(client, "unused")
    billing = create_application(client, "billing")
    conf = create_configuration(
        client, billing["id"], "db", {"host": "h", "port": 1}, schema=SCHEMA
    )
    base = f"{API}/{conf['id']}/environments"
    client.put(f"{base}/staging", json={"patch": {"host": "s", "n": 1.50}, "comments": "c"})
    client.put(f"{base}/production", json={"patch": {"host": None, "deep": {"a": [1, {}]}}})
    create_configuration(client, billing["id"], "plain", {"x": 1})
    return conf["id"]


def test_export_writes_environments_and_overlays(client, flask, tmp_path) -> None:  # noqa: F811
    _populate(client)
    document = json.loads(exported(flask, tmp_path / "out.json"))
    assert document["format"] == "config-service/v2"
    assert document["environments"] == [
        {"name": "production", "comments": None},
        {"name": "staging", "comments": "pre"},
        {"name": "unused", "comments": None},
    ]
    db, plain = document["applications"][0]["configurations"]
    assert db["overlays"] == {
        "production": {"patch": {"host": None, "deep": {"a": [1, {}]}}, "comments": None},
        "staging": {"patch": {"host": "s", "n": 1.5}, "comments": "c"},
    }
    assert plain["overlays"] == {}


def test_round_trip_is_byte_identical(client, flask, empty_app, tmp_path) -> None:  # noqa: F811
    _populate(client)
    first = exported(flask, tmp_path / "first.json")
    runner = empty_app.test_cli_runner()
    with empty_app.app_context():
        result = runner.invoke(args=["import", str(tmp_path / "first.json")])
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == [
            "environments: 3 created, 0 updated, 0 unchanged",
            "applications: 1 created, 0 updated, 0 unchanged",
            "configurations: 2 created, 0 updated, 0 unchanged",
            "overlays: 2 created, 0 updated, 0 unchanged",
        ]
        result = runner.invoke(args=["export", "-o", str(tmp_path / "second.json")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "second.json").read_text(encoding="utf-8") == first


def test_reimport_changes_nothing_and_updates_by_name(client, flask, tmp_path) -> None:  # noqa: F811
    configuration_id = _populate(client)
    path = tmp_path / "backup.json"
    document = json.loads(exported(flask, path))
    assert imported(flask, path)[3] == "overlays: 0 created, 0 updated, 2 unchanged"
    overlays = document["applications"][0]["configurations"][0]["overlays"]
    overlays["staging"]["patch"] = {"host": "s2"}
    document["environments"][0]["comments"] = "live"
    path.write_text(json.dumps(document))
    assert imported(flask, path)[0] == "environments: 0 created, 1 updated, 2 unchanged"
    staging = client.get(f"{API}/{configuration_id}?environment=staging").get_json()
    assert staging["config"]["host"] == "s2" and staging["overlay_version"] == 2
    entries = client.get(f"/api/v1/audit?resource_id={configuration_id}").get_json()["items"]
    assert (entries[0]["action"], entries[0]["resource_type"], entries[0]["environment"]) == (
        "update",
        "overlay",
        "staging",
    )


def test_a_v1_file_still_imports(client, flask, tmp_path) -> None:  # noqa: F811
    document = {
        "format": "config-service/v1",
        "applications": [{"name": "a", "configurations": [{"name": "c", "config": {}}]}],
    }
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(document))
    assert imported(flask, path) == [
        "applications: 1 created, 0 updated, 0 unchanged",
        "configurations: 1 created, 0 updated, 0 unchanged",
    ]


def _refused(flask: Any, path: Path, document: dict) -> list[str]:  # noqa: F811
    path.write_text(json.dumps(document))
    result = flask("import", str(path))
    assert result.exit_code == 1, result.output
    assert "nothing was written" in result.stderr.splitlines()[-1]
    return result.stderr.splitlines()[:-1]


def test_invalid_v2_files_are_refused(client, flask, tmp_path) -> None:  # noqa: F811
    configuration = {"name": "c", "config": {"port": 1}, "schema": SCHEMA}
    overlaid = {**configuration, "overlays": {"prod": {"patch": {"port": "x"}}}}
    v2 = {"format": "config-service/v2", "environments": [{"name": "prod"}]}
    path = tmp_path / "bad.json"
    fine = {"prod": {"patch": {"port": 2}}}
    v1 = {**v2, "format": "config-service/v1", "applications": []}
    assert _refused(flask, path, v1) == ["/environments: Needs format 'config-service/v2'."]
    undeclared = {
        **v2,
        "environments": [],
        "applications": [{"name": "a", "configurations": [{**overlaid, "overlays": fine}]}],
    }
    assert _refused(flask, path, undeclared) == [
        "/applications/0/configurations/0/overlays/prod: No environment 'prod' in the file's"
        " environments."
    ]
    invalid = {**v2, "applications": [{"name": "a", "configurations": [overlaid]}]}
    [problem] = _refused(flask, path, invalid)
    assert problem.startswith("/applications/0/configurations/0/overlays/prod/patch/port: ")
    assert client.get("/api/v1/environments").get_json()["items"] == []


def test_an_imported_schema_stored_overlays_break_is_refused(client, flask, tmp_path) -> None:  # noqa: F811
    create_environment(client, "prod")
    application = create_application(client, "a")
    conf = create_configuration(client, application["id"], "c", {"port": 1})
    client.put(f"{API}/{conf['id']}/environments/prod", json={"patch": {"port": "x"}})
    document = {
        "format": "config-service/v2",
        "applications": [
            {
                "name": "a",
                "configurations": [{"name": "c", "config": {"port": 1}, "schema": SCHEMA}],
            }
        ],
    }
    [problem] = _refused(flask, tmp_path / "f.json", document)
    assert problem.startswith("/applications/0/configurations/0 (environment 'prod')/port: ")
    assert client.get(f"{API}/{conf['id']}").get_json()["schema"] is None
