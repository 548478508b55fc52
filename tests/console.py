"""A browser's part in the console tests: forms read from pages, posted back with their
token; and the checks every console page passes."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from app.web.tokens import create_token
from tests.helpers import create_application, create_configuration, within_deadline

CONSOLE = "/console"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SCHEMA = {
    "type": "object",
    "properties": {
        "db": {
            "type": "object",
            "properties": {
                "host": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            },
        },
        "debug": {"type": "boolean"},
        "level": {"enum": ["info", "warning"]},
    },
}
CONFIG = {"db": {"host": "db1", "port": 5432}, "debug": False, "level": "info"}


def hidden(page: str, name: str, nth: int = 0) -> str:
    """Return the value of a page's nth hidden input of this name."""
    values = re.findall(rf'<input type="hidden" name="{re.escape(name)}" value="([^"]*)"', page)
    return html.unescape(values[nth])


def element(page: str, tag: str, id: str) -> str:
    """Return the inner HTML of the element with this id (first match, not nested)."""
    match = re.search(rf'<{tag} id="{id}"[^>]*>(.*?)</{tag}>', page, re.DOTALL)
    assert match, f"no <{tag} id={id}> in the page"
    return match.group(1)


def items(page: str, id: str) -> list[str]:
    """Return the text of each <li> of the list with this id."""
    return [html.unescape(re.sub(r"<[^>]+>", "", li)) for li in re.findall(
        r"<li>(.*?)</li>", element(page, "ul", id), re.DOTALL
    )]  # fmt: skip


def textarea(page: str) -> str:
    """Return the text of #raw as a browser would send it."""
    inner = element(page, "textarea", "raw")
    return html.unescape(inner.removeprefix("\n"))


class Browser:
    """One browser on the console: its cookies live in a Flask test client."""

    def __init__(self, client: Any):
        self.client = client

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(f"{CONSOLE}{path}", **kwargs)

    def post(self, path: str, data: dict[str, Any], **kwargs: Any) -> Any:
        return self.client.post(f"{CONSOLE}{path}", data=data, **kwargs)

    def form_token(self, path: str = "/") -> str:
        """Return the form token a page of the console gives its forms."""
        return hidden(self.get(path).get_data(as_text=True), "csrf_token")

    def sign_in(self, secret: str) -> Any:
        token = self.form_token()
        return self.post("/sign-in", {"token": secret, "csrf_token": token})

    def review(self, configuration_id: str, raw: str, base: int, **fields: str) -> Any:
        data = {"csrf_token": self.form_token("/applications"), "base_version": str(base)}
        return self.post(
            f"/configurations/{configuration_id}/review", {**data, "raw": raw, **fields}
        )

    def save(self, configuration_id: str, document: str, base: int) -> Any:
        data = {"csrf_token": self.form_token("/applications"), "base_version": str(base)}
        return self.post(f"/configurations/{configuration_id}/save", {**data, "document": document})


def signed_in(app: Any, db: Any, name: str, role: str, applications: tuple = ()) -> Browser:
    """Make a token and sign a new browser in with it."""
    browser = Browser(app.test_client())
    secret = create_token(db, name, role, "test", applications)
    # A token made a moment ago may not have reached the worker's list yet (its NOTIFY on
    # the way, the one lookup a second taken): sign-in answers 401 until it has.
    within_deadline(lambda: browser.sign_in(secret).status_code == 303)
    return browser


def seed(
    app: Any, db: Any, name: str = "billing", config: Any = None, schema: Any = SCHEMA
) -> dict[str, Any]:
    """Create an application and one configuration through the API, with an admin token
    of its own (`api` is that API client)."""
    api = app.test_client()
    secret = create_token(db, f"seed-{uuid.uuid4().hex[:8]}", "admin", "test")
    api.environ_base.update(HTTP_AUTHORIZATION=f"Bearer {secret}")
    application = create_application(api, name)
    body = {"schema": schema} if schema is not None else {}
    configuration = create_configuration(
        api, application["id"], "database", CONFIG if config is None else config, **body
    )
    return {"application": application, "configuration": configuration, "api": api}
