"""The web console in a real browser: every flow, by keyboard, without JavaScript, and the
checks every screen must pass (axe in light and dark, 320 px, one h1, unique titles)."""

from __future__ import annotations

import gzip
import json
import os
import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser import Console, axe_violations, horizontal_overflow, screenshot
from tests.console_screens import (
    CONFIG,
    SAME_PAGE_AS,
    SCHEMA,
    SCREENS,
    configuration_path,
    conflict,
    open_screen,
    review,
    save,
)
from tests.console_site import unique

pytestmark = pytest.mark.browser

ENDED = "Your session has ended. Sign in again."
CSRF_REFUSED = "This form has expired or was not sent by this console."
EDIT_PAGE_BUDGET = 40 * 1024  # bytes gzipped, the configuration's own data aside
ASSET_BUDGET = 3 * 1024  # console.css and console.js, each, gzipped
NAMES = re.compile(r"\b(app|cfg|env)-[0-9a-f]{10}\b")  # tests.console_site.unique's names


def path_of(page: Any) -> str:
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def text(page: Any, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def items(page: Any, selector: str) -> list[str]:
    return [line.strip() for line in page.locator(f"{selector} > li").all_inner_texts()]


def rows(page: Any, table: str) -> int:
    return page.locator(f"{table} tbody tr").count()


# --- signing in and out --------------------------------------------------------------------


def test_sign_in_keeps_the_token_out_of_urls_storage_and_pages(console: Console) -> None:
    token = console.site.tokens["reader"]
    page = console.page(None)
    urls: list[str] = []
    page.context.on("request", lambda request: urls.append(request.url))
    answer = console.sign_in(page, token)
    assert answer.status == 303
    assert path_of(page) == "/console/applications"
    console.go(page, "/console/audit")  # and one more page, a 403 among them
    assert not [url for url in urls if token in url]
    assert token not in page.content()
    storage = page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
    assert token not in storage
    assert token not in page.evaluate("document.cookie")  # HttpOnly: not even the session
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "console_session"]
    assert cookie["value"] != token and token not in cookie["value"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console/"


def test_sign_out_ends_the_session(console: Console) -> None:
    page = console.page(None)
    console.sign_in(page, console.site.new_token("reader")[1])
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/")
    page.get_by_label("Token").wait_for()
    assert not [c for c in page.context.cookies() if c["name"] == "console_session"]
    console.go(page, "/console/applications")
    assert urlsplit(page.url).path == "/console/"
    assert page.locator("#applications").count() == 0


def test_a_bad_token_is_refused_with_a_message(console: Console) -> None:
    page = console.page(None)
    bad = "cs_" + "x" * 43
    answer = console.sign_in(page, bad)
    assert answer.status == 401
    assert text(page, "#message") == "That token is not valid."
    field = page.get_by_label("Token")
    assert field.input_value() == "" and bad not in page.content()  # not echoed back
    assert (field.get_attribute("type"), field.get_attribute("autocomplete")) == ("password", "off")
    assert not [c for c in page.context.cookies() if c["name"] == "console_session"]


def test_a_revoked_token_sends_the_next_page_to_sign_in(console: Console) -> None:
    configuration = console.site.api.configuration({"a": 1})
    name, secret = console.site.new_token("writer")
    page = console.page(None)
    console.sign_in(page, secret)
    assert path_of(page) == "/console/applications"
    with page.expect_request(lambda r: "/watch" in r.url):
        console.go(page, configuration_path(configuration, "edit"))  # its script waits
    with page.expect_response(lambda r: "/watch" in r.url, timeout=5_000):
        console.site.revoke(name)  # ends the waiting watch too, without a console error
    page.locator("#notice").filter(has_text=ENDED).wait_for()  # the edit page says so
    deadline = time.monotonic() + 3  # workers forget a revoked token at its NOTIFY
    while True:
        console.go(page, "/console/applications")
        if path_of(page) == "/console/?ended=1" or time.monotonic() > deadline:
            break
    assert path_of(page) == "/console/?ended=1"
    assert text(page, "#message") == ENDED
    assert page.locator("#message").get_attribute("role") == "alert"
    page.get_by_label("Token").wait_for()


def test_an_expired_session_sends_the_next_page_to_sign_in(console: Console) -> None:
    name, secret = console.site.new_token("reader")
    page = console.page(None)
    console.sign_in(page, secret)
    assert path_of(page) == "/console/applications"
    with console.site.connect() as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE console_sessions SET expires_at = now() - interval '1 second'"
            " WHERE token_name = %s",
            (name,),
        )
    console.go(page, "/console/applications")
    assert path_of(page) == "/console/?ended=1"
    assert text(page, "#message") == ENDED


def test_a_form_posted_from_another_site_is_refused_and_writes_nothing(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    page = console.page("writer")
    console.go(page, configuration_path(configuration))  # signed in, with a live session
    target = console.site.url(configuration_path(configuration, "save"))
    evil = (
        '<!doctype html><html lang="en"><title>x</title><form method="post" action="'
        + target
        + '"><input name="document" value=\'{"a": 666}\'><input name="base_version" value="1">'
        "<button>Go</button></form></html>"
    )
    other_site = f"http://localhost:{console.site.server.port}/evil"  # another origin
    page.route(other_site, lambda route: route.fulfill(body=evil, content_type="text/html"))
    page.goto(other_site)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Go").click()
    assert posted.value.status == 403
    assert api.get(configuration["id"])["version"] == 1
    # the page this test made up lives on another host on purpose
    console.recorder.problems[:] = [p for p in console.recorder.problems if other_site not in p]


# --- browsing --------------------------------------------------------------------------------


def test_applications_search_by_prefix_and_page(console: Console) -> None:
    prefix = unique("search")
    for n in range(51):
        console.site.api.application(f"{prefix}-{n:02d}")
    console.site.api.application(unique("elsewhere"))
    page = console.page("reader")
    console.go(page, "/console/applications")
    assert page.locator("form[role=search] #prefix").count() == 1
    page.locator("#prefix").fill(prefix)
    page.locator("#prefix").press("Enter")
    page.wait_for_url("**prefix=*")
    assert rows(page, "#applications") == 50
    assert page.locator("#applications a").first.inner_text().strip() == f"{prefix}-00"
    page.locator("a#next").click()
    page.wait_for_url("**after=*")
    assert rows(page, "#applications") == 1
    assert text(page, "#applications a") == f"{prefix}-50"
    assert page.locator("a#next").count() == 0
    page.get_by_role("link", name=f"{prefix}-50").click()
    assert page.locator("h1").inner_text().strip().endswith(f"{prefix}-50")


def test_an_applications_configurations_page(console: Console) -> None:
    api = console.site.api
    application = api.application()
    names = sorted(
        api.configuration({"n": n}, application_id=application["id"])["name"] for n in range(51)
    )
    page = console.page("reader")
    console.go(page, f"/console/applications/{application['id']}")
    assert rows(page, "#configurations") == 50
    page.locator("a#next").click()
    page.wait_for_url("**after=*")
    assert rows(page, "#configurations") == 1
    assert page.locator("a#next").count() == 0
    seen = page.locator("#configurations a").first.inner_text().strip()
    assert seen in names


def test_a_configuration_page_shows_its_document_and_links(console: Console) -> None:
    configuration = console.site.api.configuration(CONFIG, SCHEMA)
    page = console.page("reader")
    console.go(page, configuration_path(configuration))
    stored = console.site.api.get(configuration["id"])["config"]  # in jsonb's key order
    assert page.locator("pre#document").inner_text() == json.dumps(stored, indent=2)
    assert "1" in text(page, "#version")
    for link, target in [("History", "history"), ("Environments", "environments")]:
        page.get_by_role("link", name=link, exact=True).click()
        page.wait_for_url(f"**/{target}*")
        page.go_back()
    page.get_by_role("link", name="Schema", exact=True).click()
    assert json.loads(page.locator("pre#schema").inner_text()) == SCHEMA
    assert page.locator("a#edit").count() == 0  # a reader cannot edit


def test_the_schema_page_says_when_there_is_none(console: Console) -> None:
    configuration = console.site.api.configuration({"a": 1})
    page = console.page("reader")
    console.go(page, configuration_path(configuration, "schema"))
    assert page.locator("pre#schema").count() == 0
    assert "No schema." in page.locator("main").inner_text()


def test_the_environments_page_shows_each_resolved_document_and_its_layers(
    console: Console,
) -> None:
    page = open_screen(console, "environments")
    (section,) = [
        s
        for s in page.locator("section[id^=env-]").all()
        if "web-staging" in s.locator("pre").inner_text()
    ]
    name = section.get_attribute("id").removeprefix("env-")
    resolved = json.loads(section.locator("pre").inner_text())
    assert (resolved["host"], resolved["port"]) == ("web-staging", CONFIG["port"])
    assert resolved["db"] == {"host": "pg1", "port": 6432}
    for pointer, layer in [
        ("/host", f"overlay {name}"),
        ("/db/port", f"overlay {name}"),
        ("/db/host", "base"),
        ("/port", "base"),
    ]:
        cell = page.locator("td, th", has_text=re.compile(f"^{re.escape(pointer)}$"))
        row = section.locator("tr").filter(has=cell)
        assert layer in row.inner_text(), f"{pointer}: {row.inner_text()}"


# --- editing ---------------------------------------------------------------------------------


def test_edit_through_the_schema_form_review_and_save(console: Console) -> None:
    api = console.site.api
    # names for the README's screenshot (each session has a new database)
    application = api.application("billing-api")
    configuration = api.configuration(CONFIG, SCHEMA, application["id"], "database")
    page = console.page("writer")
    console.go(page, configuration_path(configuration))
    page.locator("a#edit").click()
    stored = api.get(configuration["id"])["config"]  # in jsonb's key order
    assert page.get_by_label("Raw JSON").input_value() == json.dumps(stored, indent=2)
    port = page.locator("#field-db-port")
    assert port.get_attribute("name") == "field:/db/port" and port.input_value() == "5432"
    assert page.locator("label[for=field-db-port]").inner_text().strip() == "/db/port"
    assert page.get_by_label("Database host").input_value() == "pg1"  # the schema's title
    port.fill("5433")
    page.locator("#field-level").select_option(json.dumps("warning"))  # an enum's JSON
    page.locator("#field-debug").check()
    screenshot(page, "edit")
    assert review(page).status == 200
    assert sorted(items(page, "ul#changes")) == [
        "replace /db/port: 5432 → 5433",
        "replace /debug: false → true",
        'replace /level: "info" → "warning"',
    ]
    assert api.get(configuration["id"])["version"] == 1  # review writes nothing
    assert save(page).status == 303
    assert urlsplit(page.url).path == configuration_path(configuration)
    assert text(page, "#message") == "Saved version 2."
    saved = api.version(configuration["id"], 2)["config"]
    db = {"host": "pg1", "port": 5433}
    assert saved == {**CONFIG, "debug": True, "level": "warning", "db": db}
    assert json.loads(page.locator("pre#document").inner_text()) == saved


def test_edit_as_raw_json_review_and_save(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"name": "a", "tags": ["x"], "limits": {"rps": 10}})
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    assert page.locator("[id^=field-]").count() == 0  # no schema: raw JSON only
    typed = '{\n  "name": "b",\n  "tags": ["x", "y"],\n  "limits": {}\n}'
    page.get_by_label("Raw JSON").fill(typed)
    review(page)
    assert sorted(items(page, "ul#changes")) == [
        'add /tags/1: "y"',
        "remove /limits/rps (was 10)",
        'replace /name: "a" → "b"',
    ]
    save(page)
    assert text(page, "#message") == "Saved version 2."
    assert api.version(configuration["id"], 2)["config"] == json.loads(typed)


def test_back_to_editing_keeps_the_proposed_text(console: Console) -> None:
    configuration = console.site.api.configuration({"a": 1})
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    page.get_by_label("Raw JSON").fill('{"a": 2}')
    review(page)
    page.get_by_role("button", name="Back to editing").click()
    page.wait_for_load_state()
    assert json.loads(page.get_by_label("Raw JSON").input_value()) == {"a": 2}


def test_reviewing_no_change_offers_nothing_to_save(console: Console) -> None:
    configuration = console.site.api.configuration(CONFIG, SCHEMA)
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    review(page)
    assert "Nothing to save" in page.locator("main").inner_text()
    assert page.locator("button#save").count() == 0


def test_invalid_json_is_marked_at_the_raw_field_and_nothing_is_written(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    typed = '{\n  "a": 1,\n  "b": \n}'
    page.get_by_label("Raw JSON").fill(typed)
    assert review(page).status == 422
    raw = page.locator("#raw")
    assert raw.input_value() == typed  # what was typed comes back
    assert raw.get_attribute("aria-invalid") == "true"
    assert "error-raw" in (raw.get_attribute("aria-describedby") or "").split()
    assert text(page, "#error-raw") == "Not valid JSON: line 4 column 1: Expecting value."
    assert page.locator("button#save").count() == 0
    assert api.get(configuration["id"])["version"] == 1


def test_a_schema_violation_is_marked_at_its_field_and_nothing_is_written(
    console: Console,
) -> None:
    api = console.site.api
    configuration = api.configuration(CONFIG, SCHEMA)
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    proposed = {**CONFIG, "db": {"host": "pg1", "port": 70000}}
    page.get_by_label("Raw JSON").fill(json.dumps(proposed, indent=2))
    assert review(page).status == 422
    assert "70000 is greater than the maximum of 65535" in text(page, "#error-db-port")
    field = page.locator("#field-db-port")
    assert "error-db-port" in (field.get_attribute("aria-describedby") or "").split()
    assert json.loads(page.locator("#raw").input_value()) == proposed
    assert page.locator("button#save").count() == 0
    assert api.get(configuration["id"])["version"] == 1


def test_a_tampered_csrf_token_is_refused_and_nothing_is_written(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "edit"))
    page.get_by_label("Raw JSON").fill('{"a": 2}')
    review(page)
    csrf = page.locator("form", has=page.locator("button#save")).locator("[name=csrf_token]")
    csrf.evaluate("(input) => { input.value = 'x'; }")
    assert save(page).status == 403
    assert CSRF_REFUSED in page.locator("main").inner_text()
    assert api.get(configuration["id"])["version"] == 1


# --- two people editing at once ----------------------------------------------------------------


def test_two_tabs_conflict_and_the_change_is_applied_onto_the_new_version(
    console: Console,
) -> None:
    api = console.site.api
    application = api.application("checkout")  # names for the README's screenshot
    configuration = api.configuration(CONFIG, SCHEMA, application["id"], "payments")
    tab_a = console.page("writer")
    tab_b = tab_a.context.new_page()
    for tab in (tab_a, tab_b):
        console.go(tab, configuration_path(configuration, "edit"))
    tab_b.locator("#field-db-port").fill("5433")
    review(tab_b)
    save(tab_b)
    tab_a.locator("#field-host").fill("web2")
    review(tab_a)
    assert save(tab_a).status == 409
    assert tab_a.locator("#conflict").count() == 1
    assert text(tab_a, "h1") == "Someone saved version 2 first"
    assert items(tab_a, "ul#theirs") == ["replace /db/port: 5432 → 5433"]
    assert items(tab_a, "ul#mine") == ['replace /host: "web1" → "web2"']
    assert json.loads(tab_a.locator("textarea#raw").input_value())["host"] == "web2"
    assert tab_a.locator("#overlap").count() == 0
    screenshot(tab_a, "conflict")
    apply = tab_a.locator("form#apply").get_by_role("button")
    assert apply.inner_text().strip() == "Apply my changes onto version 2"
    apply.click()
    tab_a.wait_for_load_state()
    assert items(tab_a, "ul#changes") == ['replace /host: "web1" → "web2"']
    save(tab_a)
    assert text(tab_a, "#message") == "Saved version 3."
    saved = api.version(configuration["id"], 3)["config"]
    assert saved == {**CONFIG, "host": "web2", "db": {"host": "pg1", "port": 5433}}


def test_an_overlapping_conflict_lists_the_overlap_and_keeps_the_text(console: Console) -> None:
    api = console.site.api
    page = console.page("writer")
    configuration = conflict(console, page, overlap=True)
    assert items(page, "ul#overlap") == ["/db/port"]
    assert page.locator("form#apply").count() == 0
    assert json.loads(page.locator("textarea#raw").input_value())["db"]["port"] == 6000
    review(page)  # the kept text, reviewed again against version 2
    assert items(page, "ul#changes") == ["replace /db/port: 5433 → 6000"]
    save(page)
    assert api.version(configuration["id"], 3)["config"]["db"]["port"] == 6000


def test_a_save_elsewhere_is_announced_while_editing_and_reviewing(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    tab_a = console.page("writer")
    tab_b = tab_a.context.new_page()
    console.go(tab_a, configuration_path(configuration, "edit"))
    assert tab_a.locator("#notice").filter(has_text="Someone saved").count() == 0
    console.go(tab_b, configuration_path(configuration, "edit"))
    tab_b.get_by_label("Raw JSON").fill('{"a": 2}')
    review(tab_b)
    tab_a.get_by_label("Raw JSON").fill('{"a": 3}')
    review(tab_a)  # A waits on its review page now
    save(tab_b)
    notice = tab_a.locator("#notice")
    notice.filter(has_text="version 2").wait_for(timeout=10_000)
    assert notice.get_attribute("role") == "status"
    assert text(tab_a, "#notice") == (
        "Someone saved version 2 while you were editing. Review shows the difference."
    )
    console.go(tab_a, configuration_path(configuration, "edit"))  # editing version 2 now
    api.replace(configuration["id"], {"a": 4})
    notice = tab_a.locator("#notice")
    notice.filter(has_text="version 3").wait_for(timeout=10_000)


# --- history ---------------------------------------------------------------------------------


def test_history_diffs_any_two_versions_and_restores_one(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    api.replace(configuration["id"], {"a": 2, "b": True})
    api.replace(configuration["id"], {"a": 3})
    page = console.page("writer")
    console.go(page, configuration_path(configuration))
    page.get_by_role("link", name="History", exact=True).click()
    listed = page.locator("#versions").inner_text()
    assert all(str(v) in listed for v in (1, 2, 3)) and "browser-admin" in listed
    page.locator("select#a").select_option("1")
    page.locator("select#b").select_option("3")
    page.locator("form", has=page.locator("select#a")).locator("button, [type=submit]").click()
    page.wait_for_url("**a=1*")
    assert items(page, "ul#diff") == ["replace /a: 1 → 3"]
    restore = page.locator("form[action$='/history/1/restore']").get_by_role("button")
    assert restore.inner_text().strip() == "Restore"
    assert page.locator("form[action$='/history/3/restore']").count() == 0  # the current one
    restore.click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == configuration_path(configuration)
    assert "4" in text(page, "#version")
    restored = api.get(configuration["id"])
    assert (restored["version"], restored["config"]) == (4, {"a": 1})


def test_a_restore_after_someone_saved_says_so_and_writes_nothing(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    api.replace(configuration["id"], {"a": 2})
    page = console.page("writer")
    console.go(page, configuration_path(configuration, "history"))
    api.replace(configuration["id"], {"a": 3})
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("form[action$='/history/1/restore']").get_by_role("button").click()
    assert posted.value.status == 409
    assert "saved version 3 first" in text(page, "h1")
    assert api.get(configuration["id"])["version"] == 3


# --- roles -----------------------------------------------------------------------------------


def test_the_audit_log_is_for_admins_and_pages(console: Console) -> None:
    for _ in range(50):  # more than a page of entries, whatever ran before
        console.site.api.application()
    configuration = console.site.api.configuration({"a": 1})
    admin = console.page("admin")
    console.go(admin, "/console/applications")
    admin.get_by_role("navigation").get_by_role("link", name="Audit").click()
    admin.wait_for_url("**/console/audit")
    assert rows(admin, "#audit") == 50
    first_page = admin.locator("#audit tbody").inner_text()
    assert configuration["id"] in first_page  # newest first
    admin.locator("a#next").click()
    admin.wait_for_url("**after=*")
    assert rows(admin, "#audit") > 0
    assert admin.locator("#audit tbody tr").first.inner_text() not in first_page
    reader = console.page("reader")
    console.go(reader, "/console/applications")
    assert reader.get_by_role("navigation").get_by_role("link", name="Audit").count() == 0
    answer = console.go(reader, "/console/audit")
    assert answer.status == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert reader.locator("#audit").count() == 0 and reader.locator("h1").count() == 1


def test_a_reader_cannot_edit_or_restore(console: Console) -> None:
    configuration = console.site.api.configuration({"a": 1})
    console.site.api.replace(configuration["id"], {"a": 2})
    page = console.page("reader")
    console.go(page, configuration_path(configuration))
    assert page.locator("a#edit").count() == 0
    console.go(page, configuration_path(configuration, "history"))
    assert page.get_by_role("button", name="Restore").count() == 0
    answer = console.go(page, configuration_path(configuration, "edit"))
    assert answer.status == 403


def test_a_scoped_token_sees_only_its_applications(console: Console) -> None:
    api = console.site.api
    mine = api.configuration({"a": 1})
    theirs = api.configuration({"b": 2})
    application = api.ok("GET", f"/applications/{mine['application_id']}")["name"]
    page = console.page(None)
    console.sign_in(page, console.site.new_token("writer", [application])[1])
    assert page.locator("#applications a").all_inner_texts() == [application]
    assert console.go(page, configuration_path(mine)).status == 200
    assert console.go(page, configuration_path(theirs)).status == 404
    assert console.go(page, f"/console/applications/{theirs['application_id']}").status == 404
    assert "b" not in page.locator("main").inner_text().split()


# --- keyboard only -----------------------------------------------------------------------------

FOCUSED = """(selector) => {
  const el = document.activeElement;
  if (!el || el === document.body) return {match: false, visible: true, what: 'body'};
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  return {match: el.matches(selector), visible: outline || style.boxShadow !== 'none',
          what: el.outerHTML.slice(0, 120)};
}"""


def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching selector has the focus; each stop must show it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED, selector)
        assert focused["visible"], f"no visible focus indicator on {focused['what']}"
        if focused["match"]:
            return
    raise AssertionError(f"{limit} presses of Tab never reached {selector}")


def enter(page: Any) -> Any:
    """Press Enter on the focused element; return the document's response."""
    with page.expect_navigation() as navigation:
        page.keyboard.press("Enter")
    return navigation.value


def test_keyboard_only_sign_in_edit_review_and_save(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration(CONFIG, SCHEMA)
    application = api.ok("GET", f"/applications/{configuration['application_id']}")["name"]
    page = console.page(None)
    console.go(page, "/console/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"  # skip link
    tab_to(page, "#token")
    page.keyboard.type(console.site.tokens["writer"])
    enter(page)
    tab_to(page, "#prefix")
    page.keyboard.type(application)
    enter(page)
    tab_to(page, f"#applications a[href$='{configuration['application_id']}']")
    enter(page)
    tab_to(page, f"#configurations a[href$='{configuration['id']}']")
    enter(page)
    tab_to(page, "a#edit")
    enter(page)
    tab_to(page, "#field-db-port")  # focus by Tab selects what the field holds
    page.keyboard.type("5433")
    tab_to(page, "form#edit button[type=submit]")
    assert enter(page).status == 200
    assert items(page, "ul#changes") == ["replace /db/port: 5432 → 5433"]
    tab_to(page, "button#save")
    enter(page)
    assert text(page, "#message") == "Saved version 2."
    assert api.version(configuration["id"], 2)["config"]["db"]["port"] == 5433
    tab_to(page, "nav form button")  # Sign out
    enter(page)
    assert path_of(page) == "/console/"


def test_keyboard_only_conflict_apply_and_restore(console: Console) -> None:
    api = console.site.api
    page = console.page("writer")
    configuration = conflict(console, page)
    tab_to(page, "form#apply button")
    enter(page)
    tab_to(page, "button#save")
    enter(page)
    assert api.get(configuration["id"])["version"] == 3
    console.go(page, configuration_path(configuration, "history"))
    tab_to(page, "form[action$='/history/1/restore'] button")
    enter(page)
    restored = api.get(configuration["id"])
    assert (restored["version"], restored["config"]) == (4, CONFIG)


# --- JavaScript off ----------------------------------------------------------------------------


def test_without_javascript_browsing_works(console: Console) -> None:
    configuration = console.site.api.configuration(CONFIG, SCHEMA)
    application = console.site.api.ok("GET", f"/applications/{configuration['application_id']}")
    page = console.page("reader", js=False)
    console.go(page, "/console/applications")
    page.locator("#prefix").fill(application["name"])
    page.locator("#prefix").press("Enter")
    page.wait_for_url("**prefix=*")
    page.get_by_role("link", name=application["name"]).click()
    page.get_by_role("link", name=configuration["name"]).click()
    assert json.loads(page.locator("pre#document").inner_text()) == CONFIG
    for link, landmark in [
        ("History", "#versions"),
        ("Environments", "main"),
        ("Schema", "pre#schema"),
    ]:
        page.get_by_role("link", name=link, exact=True).click()
        page.locator(landmark).wait_for()
        page.go_back()


def test_without_javascript_edit_and_save_with_if_match(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration(CONFIG, SCHEMA)
    page = console.page("writer", js=False)
    console.go(page, configuration_path(configuration, "edit"))
    assert page.locator("input[name=base_version]").get_attribute("value") == "1"
    page.locator("#field-port").fill("8081")
    review(page)
    assert items(page, "ul#changes") == ["replace /port: 8080 → 8081"]
    assert save(page).status == 303
    assert text(page, "#message") == "Saved version 2."
    assert api.version(configuration["id"], 2)["config"]["port"] == 8081


def test_without_javascript_the_conflict_page_keeps_the_text_and_applies_it(
    console: Console,
) -> None:
    api = console.site.api
    page = console.page("writer", js=False)
    configuration = conflict(console, page)
    assert json.loads(page.locator("textarea#raw").input_value())["host"] == "web2"
    page.locator("form#apply").get_by_role("button").click()
    save(page)
    saved = api.version(configuration["id"], 3)["config"]
    assert (saved["host"], saved["db"]["port"]) == ("web2", 5433)


def test_without_javascript_restore_works(console: Console) -> None:
    api = console.site.api
    configuration = api.configuration({"a": 1})
    api.replace(configuration["id"], {"a": 2})
    page = console.page("writer", js=False)
    console.go(page, configuration_path(configuration, "history"))
    page.locator("form[action$='/history/1/restore']").get_by_role("button").click()
    page.wait_for_load_state()
    restored = api.get(configuration["id"])
    assert (restored["version"], restored["config"]) == (3, {"a": 1})


# --- every screen ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def titles() -> dict[str, str]:
    """The title of each screen checked so far: screen -> title."""
    return {}


@pytest.mark.parametrize("name", list(SCREENS))
def test_every_screen_passes_axe_fits_320_px_and_has_one_h1_and_its_own_title(
    console: Console, titles: dict[str, str], name: str
) -> None:
    page = open_screen(console, name)
    report, backgrounds = [], set()
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        backgrounds.add(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        found = axe_violations(page)
        report += [f"axe, {scheme}: {violation}" for violation in found]
        if os.environ.get("CONSOLE_AXE_REPORT"):  # a line per screen and scheme, for notes
            with open(os.environ["CONSOLE_AXE_REPORT"], "a") as out:
                out.write(f"{name}\t{scheme}\t{len(found)}\n")
    if len(backgrounds) != 2:
        report.append(f"light and dark look the same (background {backgrounds})")
    page.set_viewport_size({"width": 320, "height": 640})
    overflow = horizontal_overflow(page)
    if overflow:
        report.append(f"at 320 px the page is {overflow} px too wide (horizontal scroll)")
    if page.evaluate("document.documentElement.lang") != "en":
        report.append("<html> has no lang=en")
    for selector, wanted in [("h1", 1), ("main#main", 1), ("a[href='#main']", 1)]:
        if page.locator(selector).count() != wanted:
            report.append(f"{page.locator(selector).count()} {selector}, not {wanted}")
    title = page.title()
    if not title.endswith(" · Config Service"):
        report.append(f"title {title!r} does not end with ' · Config Service'")
    # each screen shows new data: compare the titles with the names taken out
    kind, general = SAME_PAGE_AS.get(name, name), NAMES.sub("…", title)
    shared = [other for other, seen in titles.items() if seen == general and other != kind]
    if shared:
        report.append(f"title {title!r} is also the title of {shared}")
    titles[kind] = general
    assert not report, f"screen {name}:\n" + "\n".join(report)


def test_every_page_sends_the_security_headers(console: Console) -> None:
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    pages: dict[str | None, Any] = {}
    for name in ("sign-in", "configuration", "edit", "not-found"):
        role, reach = SCREENS[name]
        page = pages[role] = pages.get(role) or console.page(role)
        with page.expect_response(lambda r: r.request.resource_type == "document") as first:
            reach(console, page)
        headers = first.value.headers
        assert headers.get("content-security-policy") == policy, name
        assert headers.get("x-content-type-options") == "nosniff", name
        assert headers.get("referrer-policy") == "same-origin", name
        assert "no-store" in headers.get("cache-control", ""), name
        html = page.content()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"{name}: inline script"
        assert not re.search(r"<style\b|\sstyle=", html), f"{name}: inline style"


def test_the_edit_page_weighs_at_most_40_kb_gzipped(console: Console) -> None:
    configuration = console.site.api.configuration({"a": 1}, {"type": "object"})
    page = console.page("writer")
    responses: list[Any] = []
    page.on("response", lambda response: responses.append(response))
    console.go(page, configuration_path(configuration, "edit"))
    page.wait_for_load_state("load")
    sizes = {
        urlsplit(r.url).path: len(gzip.compress(r.body(), 6))
        for r in responses
        if r.request.resource_type in ("document", "stylesheet", "script", "image", "font")
    }
    assert sum(sizes.values()) <= EDIT_PAGE_BUDGET, sizes
    for asset in ("/console/static/console.css", "/console/static/console.js"):
        assert sizes.get(asset, 0) <= ASSET_BUDGET, sizes


def test_a_1_mb_configuration_renders_within_2_s(console: Console) -> None:
    big = {f"key{n:05d}": "x" * 80 for n in range(10_000)}  # ~1 MB as the API stores it
    configuration = console.site.api.configuration(big)
    page = console.page("writer")
    for target in ("", "edit"):
        console.go(page, configuration_path(configuration, target))
        # from the request to the end of the load event, as the page itself measured it
        elapsed = page.evaluate("performance.getEntriesByType('navigation')[0].duration") / 1000
        assert elapsed < 2.0, f"{target or 'configuration'} page took {elapsed:.2f} s"


# --- the harness itself ------------------------------------------------------------------------


def test_the_harness_sees_what_the_pages_must_never_do(console: Console) -> None:
    page = console.page(None)
    bad = (
        '<!doctype html><html><title>t</title><h1 style="color:red">t</h1>'
        '<script>console.error("boom")</script><img src="http://127.0.0.2:9/x.png">'
    )
    policy = "default-src 'none'; img-src 'self'"
    page.route(
        "**/harness-check",
        lambda route: route.fulfill(
            body=bad, content_type="text/html", headers={"Content-Security-Policy": policy}
        ),
    )
    console.go(page, "/harness-check")
    page.wait_for_timeout(200)
    violations = axe_violations(page)
    throws = (
        '<!doctype html><html lang="en"><title>t</title><script>throw new Error("boom")</script>'
    )
    page.route(
        "**/harness-throws", lambda route: route.fulfill(body=throws, content_type="text/html")
    )
    console.go(page, "/harness-throws")
    page.wait_for_timeout(200)
    seen = console.close()
    assert any(p.startswith("page error:") and "boom" in p for p in seen), seen
    assert {"html-has-lang", "image-alt"} <= {v.split()[0] for v in violations}, violations
    assert any(p.startswith("CSP violation: style-src-attr") for p in seen), seen
    assert any(p.startswith("CSP violation: script-src-elem") for p in seen), seen
    assert any(p.startswith("request outside 127.0.0.1") for p in seen), seen
    assert any(p.startswith("console error") for p in seen), seen
    seen.clear()  # so this test's teardown passes
