"""Weigh the web console's screens and time their first paint in headless chromium.

    .venv/bin/python -m bench.console_pages http://127.0.0.1:8000 ADMIN_TOKEN [N]

Against a running service (`make run` prints its URL and a first admin token): signs in
with the token, makes an application `console-bench` with one configuration (a schema, two
versions, an overlay in an environment `console-bench`) unless it is there, then loads each
screen N times (default 5) and prints a table: the bytes of the page's HTML, stylesheets
and scripts, each gzipped (level 6, as nginx's gzip_comp_level 6 would send them), and the
median first-contentful-paint from the page's Performance API `paint` entries. Uses
Debian's chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import gzip
import json
import statistics
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
NAME = "console-bench"
CONFIG = {"host": "db1", "port": 5432, "pool": {"min": 1, "max": 20}, "debug": False}
SCHEMA = {
    "type": "object",
    "properties": {
        "host": {"type": "string"},
        "port": {"type": "integer"},
        "pool": {"type": "object", "properties": {"min": {"type": "integer"}}},
        "debug": {"type": "boolean"},
    },
}
FCP = "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"


def api(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    """Call the JSON API; return the answer's body (None for a 404)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def bench_configuration(base: str, token: str) -> dict[str, Any]:
    """Return the configuration the screens show, making it (version 2) the first time."""
    application = api(base, token, "GET", f"/applications/by-name/{NAME}")
    application = application or api(base, token, "POST", "/applications", {"name": NAME})
    found = api(base, token, "GET", f"/applications/by-name/{NAME}/configurations/{NAME}")
    if found:
        return found
    body = {"application_id": application["id"], "name": NAME, "config": CONFIG}
    made = api(base, token, "POST", "/configurations", {**body, "schema": SCHEMA})
    changed = {"name": NAME, "schema": SCHEMA, "config": {**CONFIG, "port": 5433}}
    made = api(base, token, "PUT", f"/configurations/{made['id']}", changed)
    if not api(base, token, "GET", f"/environments/{NAME}"):
        api(base, token, "POST", "/environments", {"name": NAME})
    overlay = {"patch": {"host": "db-bench", "pool": {"max": 5}}}
    api(base, token, "PUT", f"/configurations/{made['id']}/environments/{NAME}", overlay)
    return made


def screens(configuration: dict[str, Any]) -> dict[str, Callable[[Any, str], None]]:
    """Return name -> a function that brings a page to that screen."""
    own = f"/console/configurations/{configuration['id']}"

    def get(path: str) -> Callable[[Any, str], None]:
        def reach(page: Any, base: str) -> None:
            page.goto(base + path)

        return reach

    def review(page: Any, base: str) -> None:
        page.goto(f"{base}{own}/edit")
        page.locator("#raw").fill(json.dumps({**CONFIG, "port": 6000}, indent=2))
        with page.expect_navigation():
            page.get_by_role("button", name="Review").click()

    return {
        "sign-in": get("/console/"),
        "applications": get("/console/applications"),
        "application": get(f"/console/applications/{configuration['application_id']}"),
        "configuration": get(own),
        "edit": get(f"{own}/edit"),
        "review": review,
        "history": get(f"{own}/history?a=1&b=2"),
        "environments": get(f"{own}/environments"),
        "schema": get(f"{own}/schema"),
        "audit": get("/console/audit"),
    }


def first_paint(page: Any) -> float:
    """Return the page's first-contentful-paint in ms (polled: the CSP forbids the string
    evaluation that wait_for_function would use)."""
    for _ in range(250):
        paint = page.evaluate(FCP)
        if paint is not None:
            return float(paint)
        page.wait_for_timeout(20)
    raise RuntimeError(f"no first-contentful-paint on {page.url} within 5 s")


def measure(context: Any, base: str, reach: Callable[[Any, str], None], loads: int) -> dict:
    """Load a screen `loads` times; return gzipped bytes by kind and the median FCP (ms)."""
    sizes = {"document": 0, "stylesheet": 0, "script": 0}
    paints = []
    for n in range(loads):
        page = context.new_page()
        responses: list[Any] = []
        page.on("response", lambda response, seen=responses: seen.append(response))
        reach(page, base)
        page.wait_for_load_state("load")
        paints.append(first_paint(page))
        if n == 0:
            # the screen's own document (the last: review comes after the edit page) and
            # each stylesheet and script once
            documents = [r for r in responses if r.request.resource_type == "document"]
            documents = [r for r in documents if r.status < 300]  # not the 303s before it
            assets = {
                r.url: r for r in responses if r.request.resource_type in ("stylesheet", "script")
            }
            for r in {documents[-1].url: documents[-1], **assets}.values():
                # a revalidated asset (304) has no body here: fetch it whole
                body = r.body() if r.status < 300 else page.request.get(r.url).body()
                sizes[r.request.resource_type] += len(gzip.compress(body, 6))
        page.close()
    return {**sizes, "fcp": statistics.median(paints)}


def main(base: str, token: str, loads: int) -> None:
    from playwright.sync_api import sync_playwright

    base = base.rstrip("/")
    configuration = bench_configuration(base, token)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            signed_out = browser.new_context()
            signed_in = browser.new_context()
            page = signed_in.new_page()
            page.goto(f"{base}/console/")
            if page.get_by_label("Token").count():
                page.get_by_label("Token").fill(token)
                with page.expect_navigation():
                    page.get_by_role("button", name="Sign in").click()
            page.close()
            print(f"| screen | HTML gz | CSS gz | JS gz | FCP, median of {loads} |")
            print("|---|---:|---:|---:|---:|")
            for name, reach in screens(configuration).items():
                context = signed_out if name == "sign-in" else signed_in
                row = measure(context, base, reach, loads)
                print(
                    f"| {name} | {row['document']:,} B | {row['stylesheet']:,} B"
                    f" | {row['script']:,} B | {row['fcp']:.0f} ms |"
                )
        finally:
            browser.close()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 5)
