"""Unknown tokens cost at most one database probe a second per worker; an address that keeps
presenting them gets 429; X-Forwarded-For counts only from TRUSTED_PROXIES."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from app.repositories.tokens import TokenRepository
from app.settings import SettingsError, load_settings
from app.web.throttle import FAILURES_ALLOWED, client_address
from app.web.tokens import create_token, new_secret
from tests.helpers import assert_problem, listening, within_deadline

API = "/api/v1/applications"


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def guarded(make_app: Any, app_settings: dict[str, Any]) -> Any:
    """Make an app with auth on (and these settings), listening so its cache is used."""

    def make(**settings: Any) -> Any:
        application = make_app(**{**app_settings, "AUTH_ENABLED": True, **settings})
        listening(application)
        return application

    return make


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the token statements the service sends: each call is one round trip."""
    counts: Counter[str] = Counter()
    for name in ("live", "find_active"):
        method = getattr(TokenRepository, name)

        def counted(self: Any, *args: Any, _name: str = name, _method: Any = method) -> Any:
            counts[_name] += 1
            return _method(self, *args)

        monkeypatch.setattr(TokenRepository, name, counted)
    return counts


def test_300_unknown_tokens_cost_a_probe_a_second(guarded, db, lookups) -> None:
    # Created before the app listens: a NOTIFY heard mid-loop would read the live tokens again.
    reader = create_token(db, "reader", "reader", "test")
    client = guarded().test_client()
    assert client.get(API, headers=bearer(reader)).status_code == 200
    lookups.clear()

    started = time.monotonic()
    for n in range(300):  # each from its own address, so each is a 401, not a 429
        address = {"REMOTE_ADDR": f"10.0.{n // 200}.{n % 200}"}
        headers = {**bearer(new_secret()), "Cache-Control": "no-cache" if n % 2 else "max-age=0"}
        response = client.get(API, headers=headers, environ_base=address)
        assert response.status_code == 401
    seconds = time.monotonic() - started

    assert lookups["live"] == 0  # the list of live tokens was read once, before
    assert lookups["find_active"] <= seconds + 1, (lookups, seconds)
    assert client.get(API, headers=bearer(reader)).status_code == 200


def test_a_new_token_works_at_once(guarded, db) -> None:
    client = guarded().test_client()
    assert client.get(API, headers=bearer(new_secret())).status_code == 401  # the probe used
    secret = create_token(db, "fresh", "reader", "test")
    # Its NOTIFY makes the worker read the live tokens again within milliseconds.
    within_deadline(lambda: client.get(API, headers=bearer(secret)).status_code == 200)


def test_a_new_token_works_before_its_notification_arrives(guarded, db) -> None:
    client = guarded().test_client()
    secret = create_token(db, "fresh", "reader", "test")
    assert client.get(API, headers=bearer(secret)).status_code == 200


def failures(client: Any, count: int, headers: Any = (), **request: Any) -> list[Any]:
    """Send `count` requests with unknown tokens."""
    return [
        client.get(API, headers={**dict(headers), **bearer(new_secret())}, **request)
        for _ in range(count)
    ]


def assert_too_many(response: Any) -> None:
    body = assert_problem(response, 429)
    assert 1 <= int(response.headers["Retry-After"]) <= 10
    assert "WWW-Authenticate" not in response.headers
    assert "cs_" not in body["detail"]


def test_repeated_401s_from_one_address_get_429(guarded, db) -> None:
    client = guarded().test_client()
    reader = create_token(db, "reader", "reader", "test")
    assert {r.status_code for r in failures(client, FAILURES_ALLOWED)} == {401}
    assert_too_many(client.get(API, headers=bearer(new_secret())))
    assert_too_many(client.get(API))  # no token at all counts the same
    # Another address is not slowed, and a live token still works from this one.
    other = {"environ_base": {"REMOTE_ADDR": "10.9.9.9"}}
    assert failures(client, 1, **other)[0].status_code == 401
    assert client.get(API, headers=bearer(reader)).status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(guarded) -> None:
    client = guarded().test_client()
    for n in range(FAILURES_ALLOWED):
        client.get(API, headers={"X-Forwarded-For": f"10.1.1.{n}"})
    assert_too_many(client.get(API, headers={"X-Forwarded-For": "10.2.2.2"}))


def test_forwarded_for_names_the_client_behind_a_trusted_proxy(guarded) -> None:
    client = guarded(TRUSTED_PROXIES="127.0.0.0/8, ::1").test_client()
    via = {"X-Forwarded-For": "10.1.1.1"}
    assert {r.status_code for r in failures(client, FAILURES_ALLOWED, headers=via)} == {401}
    assert_too_many(client.get(API, headers=via))
    # Forged hops left of the proxy's own entry change nothing; another client is not slowed.
    assert_too_many(client.get(API, headers={"X-Forwarded-For": "6.6.6.6, 10.1.1.1"}))
    assert client.get(API, headers={"X-Forwarded-For": "10.3.3.3"}).status_code == 401


@pytest.mark.parametrize(
    ("peer", "forwarded", "address"),
    [
        ("203.0.113.9", "10.1.1.1", "203.0.113.9"),  # an untrusted peer: its own address
        ("10.0.0.2", "198.51.100.7", "198.51.100.7"),
        ("10.0.0.2", "1.1.1.1, 198.51.100.7, 10.0.0.3", "198.51.100.7"),  # two proxies
        ("10.0.0.2", "10.0.0.4, 10.0.0.3", "10.0.0.2"),  # only proxies: the peer
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "junk", "junk"),  # what our proxy saw, however odd
    ],
)
def test_client_address(peer: str, forwarded: str, address: str) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_request()
    trusted = load_settings({"TRUSTED_PROXIES": "10.0.0.0/24"}, environ={})["TRUSTED_PROXIES"]
    assert client_address(request, trusted) == address


def test_trusted_proxies_must_be_addresses() -> None:
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, environ={})


def test_the_limit_is_a_setting(guarded) -> None:
    client = guarded(AUTH_FAILURES_ALLOWED=3).test_client()
    assert {r.status_code for r in failures(client, 3)} == {401}
    assert_too_many(client.get(API, headers=bearer(new_secret())))
