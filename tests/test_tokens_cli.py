"""`flask tokens`: create, list, revoke and bootstrap, through app.test_cli_runner()."""

from __future__ import annotations

import getpass
import hashlib
import os
from typing import Any

import pytest

from app.web.audit import cli_actor
from app.web.tokens import SECRET_PATTERN, TokenError, create_token


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def flask(app: Any):
    """Run a `flask` command; return its result (stdout and stderr together)."""
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def create(flask: Any, name: str, role: str = "reader") -> str:
    result = flask("tokens", "create", name, "--role", role)
    assert result.exit_code == 0, result.output
    return result.output.rstrip("\n").splitlines()[-1]


def rows(db: Any) -> list[dict[str, Any]]:
    with db.cursor() as cur:
        cur.execute("SELECT * FROM api_tokens ORDER BY name")
        return cur.fetchall()


def test_create_prints_the_secret_last_and_stores_only_its_hash(flask: Any, db: Any) -> None:
    result = flask("tokens", "create", "ci", "--role", "writer")
    assert result.exit_code == 0
    *before, secret = result.output.rstrip("\n").splitlines()
    assert SECRET_PATTERN.fullmatch(secret) and len(secret) >= 3 + 43  # 32 random bytes
    assert all(secret not in line for line in before)
    [row] = rows(db)
    assert (row["name"], row["role"]) == ("ci", "writer")
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()
    assert all(secret not in str(value) for value in row.values())


def test_secrets_are_fresh(flask: Any) -> None:
    assert len({create(flask, f"t{i}") for i in range(5)}) == 5


def test_created_token_works_with_its_role(flask: Any, client: Any) -> None:
    secret = create(flask, "ci", "writer")
    headers = {"Authorization": f"Bearer {secret}"}
    assert (
        client.post("/api/v1/applications", json={"name": "a"}, headers=headers).status_code == 201
    )
    assert client.get("/api/v1/audit", headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name", "--role", "reader"], "invalid token name"),
        (["x" * 129, "--role", "reader"], "invalid token name"),
        (["'; DROP TABLE api_tokens; --", "--role", "reader"], "invalid token name"),
        (["anonymous", "--role", "admin"], "reserved"),
        (["ci", "--role", "root"], "root"),
        (["ci"], "--role"),
    ],
)
def test_create_refuses_bad_input(flask: Any, db: Any, args: list[str], message: str) -> None:
    result = flask("tokens", "create", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert rows(db) == []


def test_names_are_never_reused(flask: Any, db: Any) -> None:
    create(flask, "ci")
    assert "exists already" in flask("tokens", "create", "ci", "--role", "admin").output
    assert flask("tokens", "revoke", "ci").exit_code == 0
    result = flask("tokens", "create", "ci", "--role", "admin")
    assert result.exit_code == 1 and "exists already" in result.output
    assert [(row["name"], row["role"]) for row in rows(db)] == [("ci", "reader")]


def test_list_shows_names_roles_and_times_never_secrets(flask: Any, client: Any) -> None:
    secrets = [create(flask, "ci", "writer"), create(flask, "ops", "admin")]
    client.get("/api/v1/applications", headers={"Authorization": f"Bearer {secrets[0]}"})
    flask("tokens", "revoke", "ops")
    result = flask("tokens", "list")
    assert result.exit_code == 0
    header, ci, ops = result.output.splitlines()
    assert header.split() == ["NAME", "ROLE", "CREATED", "LAST", "USED", "REVOKED", "APPLICATIONS"]
    assert ci.split()[:2] == ["ci", "writer"] and ci.split()[-2] == "-"  # used, live
    assert ops.split()[:2] == ["ops", "admin"] and ops.split()[3] == "-"  # unused, revoked
    assert ops.split()[-2].endswith("Z") and ops.split()[-1] == "*"  # every application
    assert all(secret not in result.output for secret in secrets)


def test_revoke_unknown_or_twice_fails(flask: Any) -> None:
    assert flask("tokens", "revoke", "nobody").exit_code == 1
    create(flask, "ci")
    assert flask("tokens", "revoke", "ci").exit_code == 0
    result = flask("tokens", "revoke", "ci")
    assert result.exit_code == 1 and "no live token" in result.output


def test_bootstrap_makes_one_admin_token_once(flask: Any, client: Any, db: Any) -> None:
    result = flask("tokens", "bootstrap")
    assert result.exit_code == 0
    lines = result.output.rstrip("\n").splitlines()
    secret = lines[-1]
    assert SECRET_PATTERN.fullmatch(secret)
    curl = next(line for line in lines if "curl" in line)
    assert f'-H "Authorization: Bearer {secret}" http://127.0.0.1:8000/api/v1/' in curl
    assert (
        client.get("/api/v1/audit", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 200
    )
    again = flask("tokens", "bootstrap")
    assert again.exit_code == 0 and "cs_" not in again.output
    assert [(row["name"], row["role"]) for row in rows(db)] == [("admin", "admin")]


def test_bootstrap_leaves_existing_tokens_alone(flask: Any, db: Any) -> None:
    create(flask, "ci")
    flask("tokens", "revoke", "ci")  # every token revoked is still "tokens exist"
    result = flask("tokens", "bootstrap")
    assert result.exit_code == 0 and "cs_" not in result.output
    assert [row["name"] for row in rows(db)] == ["ci"]


def test_bootstrap_losing_a_race_makes_nothing(flask: Any, db: Any, monkeypatch) -> None:
    from app.repositories.tokens import TokenRepository

    create(flask, "admin", "admin")
    monkeypatch.setattr(TokenRepository, "any", lambda self: False)  # checked before it existed
    result = flask("tokens", "bootstrap")
    assert result.exit_code == 0 and "cs_" not in result.output
    assert [row["name"] for row in rows(db)] == ["admin"]


def test_bootstrap_with_auth_off_makes_nothing(app_settings: dict[str, Any], db: Any) -> None:
    from app import create_app

    app = create_app({**app_settings, "AUTH_ENABLED": False})
    result = app.test_cli_runner().invoke(args=["tokens", "bootstrap"])
    assert result.exit_code == 0 and "cs_" not in result.output
    assert rows(db) == []


def test_database_down_is_one_clear_line(app_settings: dict[str, Any]) -> None:
    from app import create_app

    down = {**app_settings, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"}
    down["DB_CONNECT_TIMEOUT"] = 1
    result = create_app(down).test_cli_runner().invoke(args=["tokens", "list"])
    assert result.exit_code == 1
    assert "cannot reach the database" in result.output and "Traceback" not in result.output


def test_commands_never_print_or_log_a_secret(
    flask: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    secret = create(flask, "ci")
    outputs = [flask(*args).output for args in (["tokens", "list"], ["tokens", "revoke", "ci"])]
    outputs.append(flask("tokens", "bootstrap").output)
    out, err = capfd.readouterr()
    assert all(secret not in text for text in [*outputs, out, err])


def test_unmigrated_database_says_to_migrate(app_settings: dict[str, Any], databases: Any) -> None:
    from app import create_app

    fresh = create_app({**app_settings, "DATABASE_URL": databases.create()})
    result = fresh.test_cli_runner().invoke(args=["tokens", "list"])
    assert result.exit_code == 1 and "flask migrate" in result.output


def test_create_token_refuses_an_unknown_role(db: Any) -> None:
    with pytest.raises(TokenError, match="invalid role"):
        create_token(db, "ci", "root", "test")


def test_cli_actor_names_the_os_user(monkeypatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    assert cli_actor() == "cli:alice"

    def nobody() -> str:
        raise OSError("no user")

    monkeypatch.setattr(getpass, "getuser", nobody)
    assert cli_actor() == "cli"


def test_output_writes_the_secret_to_a_new_private_file(flask: Any, db: Any, tmp_path) -> None:
    target = tmp_path / "ops-admin"
    result = flask("tokens", "create", "ops-admin", "--role", "admin", "--output", str(target))
    assert result.exit_code == 0, result.output
    secret = target.read_text().rstrip("\n")
    assert SECRET_PATTERN.fullmatch(secret)
    assert secret not in result.output and str(target) in result.output
    assert target.stat().st_mode & 0o777 == 0o600
    [row] = rows(db)
    assert bytes(row["secret_sha256"]) == hashlib.sha256(secret.encode()).digest()


@pytest.mark.parametrize(
    "where", ["missing folder", "existing file", "a file for a folder", "unwritable folder"]
)
def test_output_that_cannot_be_written_creates_no_token(
    flask: Any, db: Any, tmp_path, where: str
) -> None:
    target = tmp_path / "secrets" / "ops-admin"
    if where == "existing file":
        target.parent.mkdir()
        target.write_text("kept\n")
    elif where == "a file for a folder":
        target.parent.write_text("")
    elif where == "unwritable folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into any folder")
        target.parent.mkdir(mode=0o500)
    result = flask("tokens", "create", "ops-admin", "--role", "admin", "--output", str(target))
    assert result.exit_code == 1
    assert "no token was created" in result.output
    assert rows(db) == []
    if where == "existing file":
        assert target.read_text() == "kept\n"  # never overwritten
    elif where != "a file for a folder":
        assert not target.exists()


def test_output_is_removed_when_the_token_cannot_be_created(flask: Any, db: Any, tmp_path) -> None:
    create(flask, "ops-admin")
    target = tmp_path / "ops-admin"
    result = flask("tokens", "create", "ops-admin", "--role", "admin", "--output", str(target))
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert not target.exists()
    assert len(rows(db)) == 1
