"""Every screen of the console, reached the way a person reaches it, for the checks that
run on all of them (axe, 320 px, titles); and the data the flows start from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.browser import Console
from tests.console_site import unique

SCHEMA = {
    "type": "object",
    "properties": {
        "host": {"type": "string", "title": "Host"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "title": "Port"},
        "debug": {"type": "boolean", "title": "Debug logging"},
        "level": {"enum": ["debug", "info", "warning"], "title": "Log level"},
        "ratio": {"type": "number", "title": "Sampling ratio"},
        "db": {
            "type": "object",
            "properties": {
                "host": {"type": "string", "title": "Database host"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},  # no title
            },
        },
    },
}
CONFIG = {
    "host": "web1",
    "port": 8080,
    "debug": False,
    "level": "info",
    "ratio": 0.5,
    "db": {"host": "pg1", "port": 5432},
}


def configuration_path(configuration: dict[str, Any], page: str = "") -> str:
    """Return the console path of a configuration's page ("" for the configuration itself)."""
    return f"/console/configurations/{configuration['id']}" + (f"/{page}" if page else "")


def review(page: Any) -> Any:
    """Press Review; return the response to the form's POST."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Review").click()
    page.wait_for_load_state()
    return posted.value


def save(page: Any) -> Any:
    """Press Save on the review page; return the response to the form's POST."""
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("button#save").click()
    page.wait_for_load_state()
    return posted.value


def conflict(console: Console, page: Any, overlap: bool = False) -> dict[str, Any]:
    """Bring `page` to the conflict screen: someone saves version 2 while it edits version 1.

    Without overlap the two sides change different keys; with it, both change /db/port.
    """
    configuration = console.site.api.configuration(CONFIG, SCHEMA)
    console.go(page, configuration_path(configuration, "edit"))
    console.site.api.replace(configuration["id"], {**CONFIG, "db": {"host": "pg1", "port": 5433}})
    if overlap:
        page.locator("#field-db-port").fill("6000")
    else:
        page.locator("#field-host").fill("web2")
    review(page)
    answer = save(page)
    assert answer.status == 409, f"expected the conflict page, got {answer.status}"
    return configuration


def wide(console: Console) -> dict[str, Any]:
    """Make a configuration whose names and a value are as long as they may be, so the
    screens meet text that cannot wrap at 320 px."""
    api = console.site.api
    application = api.application(unique("app") + "-" + "long" * 28)  # 127 characters
    document = {**CONFIG, "endpoint": "https://" + "w" * 200 + ".example/"}
    return api.configuration(document, SCHEMA, application_id=application["id"])


def _sign_in(console: Console, page: Any) -> None:
    console.go(page, "/console/")


def _applications(console: Console, page: Any) -> None:
    application = console.site.api.ok("GET", f"/applications/{wide(console)['application_id']}")
    console.go(page, "/console/applications?prefix=" + application["name"])


def _application(console: Console, page: Any) -> None:
    configuration = wide(console)
    console.go(page, f"/console/applications/{configuration['application_id']}")


def _configuration(console: Console, page: Any) -> None:
    console.go(page, configuration_path(wide(console)))


def _edit(console: Console, page: Any) -> None:
    console.go(page, configuration_path(wide(console), "edit"))


def _edit_with_errors(console: Console, page: Any) -> None:
    _edit(console, page)
    page.locator("#raw").fill('{"host": "web1",\n  "port": 70000,\n  "db": {"port": 0}}')
    review(page)


def _review(console: Console, page: Any) -> None:
    _edit(console, page)
    page.locator("#field-db-port").fill("5433")
    review(page)


def _conflict(console: Console, page: Any) -> None:
    conflict(console, page)


def _conflict_overlap(console: Console, page: Any) -> None:
    conflict(console, page, overlap=True)


def _history(console: Console, page: Any) -> None:
    configuration = console.site.api.configuration({"a": 1})
    console.site.api.replace(configuration["id"], {"a": 2, "b": [1, 2]})
    console.go(page, configuration_path(configuration, "history") + "?a=1&b=2")


def _environments(console: Console, page: Any) -> None:
    api = console.site.api
    configuration = wide(console)
    environment = api.ok("POST", "/environments", {"name": unique("env")})["name"]
    overlay = {"patch": {"host": "web-staging", "db": {"port": 6432}}}
    api.ok("PUT", f"/configurations/{configuration['id']}/environments/{environment}", overlay)
    console.go(page, configuration_path(configuration, "environments"))


def _schema(console: Console, page: Any) -> None:
    console.go(page, configuration_path(console.site.api.configuration(CONFIG, SCHEMA), "schema"))


def _audit(console: Console, page: Any) -> None:
    console.site.api.application()
    console.go(page, "/console/audit")


def _not_found(console: Console, page: Any) -> None:
    console.go(page, "/console/configurations/01ARZ3NDEKTSV4RRFFQ69G5FAV")


def _forbidden(console: Console, page: Any) -> None:
    console.go(page, configuration_path(console.site.api.configuration(CONFIG, SCHEMA), "edit"))


# name -> (role that opens it, how to get there)
SCREENS: dict[str, tuple[str | None, Callable[[Console, Any], None]]] = {
    "sign-in": (None, _sign_in),
    "applications": ("reader", _applications),
    "application": ("reader", _application),
    "configuration": ("reader", _configuration),
    "edit": ("writer", _edit),
    "edit-with-errors": ("writer", _edit_with_errors),
    "review": ("writer", _review),
    "conflict": ("writer", _conflict),
    "conflict-overlap": ("writer", _conflict_overlap),
    "history": ("writer", _history),
    "environments": ("reader", _environments),
    "schema": ("reader", _schema),
    "audit": ("admin", _audit),
    "not-found": ("reader", _not_found),
    "forbidden": ("reader", _forbidden),
}
# The same page in another state: it keeps its title.
SAME_PAGE_AS = {"edit-with-errors": "edit", "conflict-overlap": "conflict"}


def open_screen(console: Console, name: str, **options: Any) -> Any:
    """Open a page at the named screen (options as Console.context) and return it."""
    role, reach = SCREENS[name]
    page = console.page(role, **options)
    reach(console, page)
    return page
