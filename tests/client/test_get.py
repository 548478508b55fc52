"""Reading: the library's get and revalidation, typed errors, kept copies, and `get`."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from config_service_client import Client, NotFound, Target, Unauthorized, Unreachable

from tests.client.conftest import Service, revoke, run_cli, wait_until
from tests.servers import free_port


def dead_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def revoke_and_wait(service: Service) -> None:
    """Revoke the reader token and wait for the workers to hear of it (milliseconds)."""
    revoke(service.database_url, service.reader_name)
    client = Client(service.url, service.reader)

    def refused() -> bool:
        try:
            client.get("billing", "database")
        except Unauthorized:
            return True
        return False

    wait_until(refused, 1.0, "the revocation to apply")


def test_get_returns_config_version_and_etag_then_revalidates(service: Service) -> None:
    made = service.api.seed(config={"host": "db1"})
    client = Client(service.url, service.reader)

    first = client.get("billing", "database")
    assert (first.config, first.version, first.etag) == ({"host": "db1"}, 1, '"1"')
    assert not first.from_kept_copy
    assert client.get_by_id(made["id"]).configuration == first.configuration

    second = client.get("billing", "database")  # a 304: memory answers
    assert second is first
    service.api.patch(made["id"], config={"host": "db2"})
    third = client.get("billing", "database")
    assert (third.config, third.version) == ({"host": "db2"}, 2)
    client.close()


def test_typed_errors(service: Service) -> None:
    service.api.seed()
    with pytest.raises(NotFound, match="HTTP 404"):
        Client(service.url, service.reader).get("billing", "missing")
    with pytest.raises(Unauthorized, match="HTTP 401"):
        Client(service.url, "cs_not-a-token").get("billing", "database")
    with pytest.raises(Unreachable, match="no answer"):
        Client(dead_url(), service.reader, timeout=2).get("billing", "database")


def test_settings_default_from_the_environment(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.api.seed()
    monkeypatch.setenv("CONFIG_SERVICE_URL", service.url)
    monkeypatch.setenv("CONFIG_SERVICE_TOKEN", service.reader)
    monkeypatch.setenv("CONFIG_SERVICE_CACHE_DIR", str(tmp_path))
    assert Client().get("billing", "database").version == 1
    assert len(list(tmp_path.glob("*.json"))) == 1


def test_kept_copy_when_unreachable_never_for_404_or_401(
    service: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    made = service.api.seed(config={"host": "db1"})
    Client(service.url, service.reader, tmp_path).get("billing", "database")

    with caplog.at_level(logging.WARNING, "config_service_client"):
        kept = Client(dead_url(), service.reader, tmp_path).get("billing", "database")
    assert kept.from_kept_copy and kept.config == {"host": "db1"} and kept.version == 1
    assert isinstance(kept.error, Unreachable)
    assert 0 <= kept.age < 60
    [line] = caplog.messages
    assert re.search(r"kept copy of billing/database \(version 1, fetched \d+ s ago\)", line)

    with pytest.raises(NotFound):
        Client(service.url, service.reader, tmp_path).get("billing", "other")
    revoke_and_wait(service)
    with pytest.raises(Unauthorized):
        Client(service.url, service.reader, tmp_path).get("billing", "database")
    service.api.call("DELETE", f"/api/v1/configurations/{made['id']}")


def test_kept_copy_file_names_are_safe(service: Service, tmp_path: Path) -> None:
    service.api.seed(app="a.b-c_1", name="x..y")
    Client(service.url, service.reader, tmp_path).get("a.b-c_1", "x..y")
    [path] = tmp_path.glob("*.json")
    assert re.fullmatch(r"a\.b-c_1__x\.\.y-[0-9a-f]{16}\.json", path.name)
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


@pytest.mark.parametrize(
    ("application", "name"),
    [("..", ".."), ("../../etc", "passwd"), ("a/b", "c"), ("é" * 300, "\0"), ("a", "b__c")],
)
def test_kept_copy_names_stay_in_the_folder_and_apart(application: str, name: str) -> None:
    stem = Target(application=application, name=name).file_stem()
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,100}", stem) and not stem.startswith(".")
    assert stem != Target(application=f"{application}__", name=name[:-1] or "x").file_stem()


# The command line


def test_cli_get_prints_the_config(service: Service, tmp_path: Path) -> None:
    service.api.seed(config={"host": "db1", "ports": [1, 2]})
    done = run_cli("get", "billing", "database", *service.args(tmp_path))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"host": "db1", "ports": [1, 2]}
    assert done.stderr == ""


def test_cli_installed_script_runs() -> None:
    script = shutil.which("config-service-client", path=str(Path(sys.executable).parent))
    assert script, "pip install ./client (requirements-dev.txt does)"
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "watch" in done.stdout


def test_cli_get_server_down_prints_the_kept_copy(service: Service, tmp_path: Path) -> None:
    service.api.seed(config={"host": "db1"})
    assert run_cli("get", "billing", "database", *service.args(tmp_path)).returncode == 0

    done = run_cli("get", "billing", "database", "--url", dead_url(), "--token", "x",
                   "--cache-dir", str(tmp_path))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"host": "db1"}
    [line] = done.stderr.splitlines()
    assert "kept copy" in line and "version 1" in line and "ago" in line


def test_cli_get_server_down_without_kept_copy_fails_in_one_line(tmp_path: Path) -> None:
    for extra in ([], ["--cache-dir", str(tmp_path)]):
        done = run_cli("get", "billing", "database", "--url", dead_url(), "--token", "x", *extra)
        assert done.returncode == 1
        assert done.stdout == ""
        [line] = done.stderr.splitlines()
        assert line.startswith("config-service-client: error: no answer from 127.0.0.1:")
        assert "no kept copy" in line or "no --cache-dir" in line


@pytest.mark.parametrize("failure", ["404", "401"])
def test_cli_get_never_masks_401_or_404_with_a_kept_copy(
    service: Service, tmp_path: Path, failure: str
) -> None:
    made = service.api.seed()
    assert run_cli("get", "billing", "database", *service.args(tmp_path)).returncode == 0
    if failure == "404":
        service.api.call("DELETE", f"/api/v1/configurations/{made['id']}")
    else:
        revoke_and_wait(service)

    done = run_cli("get", "billing", "database", *service.args(tmp_path))
    assert done.returncode == (4 if failure == "404" else 3)
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert f"HTTP {failure}" in line


def test_cli_get_without_url_is_one_line() -> None:
    done = run_cli("get", "billing", "database")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "config-service-client: error: no URL: pass url= or set CONFIG_SERVICE_URL"
    )
