"""Browser tests' harness: Debian's chromium driven by Playwright against a real gunicorn.

Every page a test opens is watched: console errors, uncaught page errors, Content Security
Policy violations and any request to a host other than 127.0.0.1 fail the test at teardown.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from app.settings import PROJECT_ROOT
from tests.console_site import Site, running_site

CHROMIUM = "/usr/bin/chromium"  # Debian's package; nothing here downloads a browser build
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Chromium logs the status of a document it was sent; an error page is still the page.
FAILED_LOAD = "Failed to load resource: the server responded with a status of"
# Every violation is reported to the test through this binding, even ones the page catches.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.__cspViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`
    + ` at ${event.sourceFile || event.documentURI}:${event.lineNumber}`);
});
"""


def chromium_path() -> str:
    """Return the chromium binary; skip the test without it, or fail it in CI (CI set)."""
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).is_file() else None)
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium): the browser tests need it"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def site(databases: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The service with auth on, on a throwaway database of its own (not emptied per test)."""
    chromium_path()  # skip before starting anything
    log = tmp_path_factory.mktemp("console") / "gunicorn.log"
    with running_site(databases.create("cs_browser"), log) as running:
        yield running


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless chromium per test module (each test gets fresh contexts). Not for the
    session: Playwright's sync API holds an asyncio loop in this thread while it runs, and
    later tests' asyncio.run() would refuse to start."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives the browser a new temporary profile (user data dir) and removes it
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Recorder:
    """What went wrong in the pages of one test, as readable lines."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.error_documents: set[str] = set()

    def watch(self, context: Any) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"page error: {error.error}"))
        context.on("request", self._request)
        context.on("response", self._response)
        context.expose_binding(
            "__cspViolation", lambda _source, text: self.problems.append(f"CSP violation: {text}")
        )
        context.add_init_script(CSP_LISTENER)

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith(FAILED_LOAD) and where in self.error_documents:
            return
        self.problems.append(f"console error at {where}: {message.text}")

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme != "about" and parts.hostname != "127.0.0.1":
            self.problems.append(f"request outside 127.0.0.1: {request.method} {request.url}")

    def _response(self, response: Any) -> None:
        if response.request.resource_type == "document" and response.status >= 400:
            self.error_documents.add(response.url)


def axe_violations(page: Any) -> list[str]:
    """Run axe-core (bundled, offline) on the page for WCAG 2.1 A and AA; return violations."""
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    found = []
    for violation in results.response["violations"]:
        targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return found


def horizontal_overflow(page: Any) -> int:
    """Return how many CSS pixels the document is wider than the viewport (0: no scroll)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return max(0, int(width) - page.viewport_size["width"])


class Console:
    """Browser contexts for one test, signed in as a role or not; closed and checked after it."""

    def __init__(self, site: Site, browser: Any, sessions: dict[str, Any]):
        self.site, self.browser, self.sessions = site, browser, sessions
        self.recorder = Recorder()
        self.contexts: list[Any] = []

    def context(
        self, *, js: bool = True, scheme: str = "light", width: int = 1024, state: Any = None
    ) -> Any:
        """A new watched context: JavaScript on or off, light or dark, this wide."""
        context = self.browser.new_context(
            java_script_enabled=js,
            color_scheme=scheme,
            viewport={"width": width, "height": 800},
            storage_state=state,
        )
        context.set_default_timeout(10_000)
        self.recorder.watch(context)
        self.contexts.append(context)
        return context

    def page(self, role: str | None = "writer", **options: Any) -> Any:
        """A new page in a new context, signed in as `role` (None: not signed in)."""
        if role is not None and role not in self.sessions:
            page = self.context().new_page()
            self.sign_in(page, self.site.tokens[role])
            self.sessions[role] = page.context.storage_state()
        state = self.sessions[role] if role is not None else None
        return self.context(state=state, **options).new_page()

    def go(self, page: Any, path: str) -> Any:
        """Open a path of the service in the page; return the document's response."""
        return page.goto(self.site.url(path))

    def sign_in(self, page: Any, token: str) -> Any:
        """Sign in through the form; return the response to the form's POST."""
        self.go(page, "/console/")
        page.get_by_label("Token").fill(token)
        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return posted.value

    def close(self) -> list[str]:
        """Close every context; return what went wrong in them."""
        for context in self.contexts:
            context.close()
        return self.recorder.problems


@pytest.fixture(scope="session")
def sessions() -> dict[str, Any]:
    """Signed-in browser state per role, made once: role -> Playwright storage state."""
    return {}


@pytest.fixture
def console(site: Site, chromium: Any, sessions: dict[str, Any]) -> Iterator[Console]:
    """Pages for one test; its teardown fails on console errors, page errors, CSP
    violations and requests to any host but 127.0.0.1."""
    made = Console(site, chromium, sessions)
    yield made
    problems = made.close()
    assert not problems, "the pages of this test went wrong:\n" + "\n".join(problems)


def screenshot(page: Any, name: str) -> None:
    """With CONSOLE_SCREENSHOTS=1, save the page as docs/console-<name>.png (for the README)."""
    if os.environ.get("CONSOLE_SCREENSHOTS") == "1":
        page.screenshot(path=str(PROJECT_ROOT / "docs" / f"console-{name}.png"), full_page=True)
