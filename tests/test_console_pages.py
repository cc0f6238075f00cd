"""The admin console's pages (§9) as served: every placeholder filled, the
navigation marking the page it is on, the shared sign-in form and connection
state, the page's observable elements, nothing addressed outside the server,
and the pages' strict headers."""

from __future__ import annotations

import re

import pytest

from api.console import PAGES, render_console_page
from api.pages import BUNDLES
from tests.conftest import Server
from tests.test_pages import parse

SHELL_IDS = (
    "token-form",
    "token-input",
    "token-message",
    "content",
    "connection",
    "reconnecting",
    "console-error",
    "sign-out",
)
PAGE_ELEMENTS = {
    "overview": [
        f'data-metric="{m}"'
        for m in ("dau", "wau", "mau", "online-customers", "online-users", "live-sessions", "live-streams")
    ]
    + ['id="chart"', 'id="customers-list"', 'id="users-list"', 'id="jobs"'],
    "sessions": [
        'id="sessions-rows"',
        'id="q"',
        'id="status"',
        'id="from"',
        'id="to"',
        'id="download"',
        'id="teacher-rows"',
    ],
    "streams": [
        'id="live-rows"',
        'id="recent-rows"',
        'id="statement"',
        'id="stream-log"',
        'data-metric="live-streams"',
    ],
}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_page_is_complete_and_self_contained(name: str) -> None:
    page = render_console_page(name)
    assert "{{" not in page and "}}" not in page
    doc = parse(page)
    ids = {attrs.get("id") for _, attrs in doc.tags}
    assert set(SHELL_IDS) <= ids
    for marker in PAGE_ELEMENTS[name]:
        assert marker in page, marker
    # The navigation: the three pages, this one marked current (and only it).
    current = [attrs["href"] for tag, attrs in doc.tags if tag == "a" and attrs.get("aria-current") == "page"]
    assert current == [PAGES[name]]
    links = {attrs["href"] for tag, attrs in doc.tags if tag == "a" and attrs.get("href", "").startswith("/admin")}
    assert set(PAGES.values()) <= links
    # One script from our server, then the start call for this page.
    scripts = [attrs.get("src") for tag, attrs in doc.tags if tag == "script" and attrs.get("src")]
    assert scripts == ["/static/console.js"]
    assert f"PresenceConsole.start('{name}')" in page
    # Nothing from elsewhere: no absolute URL in any src, href or url().
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "url(" not in page and "@import" not in page
    # Every form control is labelled.
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    controls = [attrs["id"] for tag, attrs in doc.tags if tag in ("input", "select") and attrs.get("type") != "hidden"]
    assert set(controls) <= labelled, set(controls) - labelled


def test_the_console_bundle_is_served() -> None:
    assert "console.js" in BUNDLES


async def test_the_pages_are_served_with_strict_headers(server: Server) -> None:
    for name, path in PAGES.items():
        async with server.http.get(path) as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "script-src 'self'" in csp
            assert resp.headers["Referrer-Policy"] == "no-referrer"
            assert f"PresenceConsole.start('{name}')" in await resp.text()
    # The pages are not in the API's description (they are not API).
    status, doc = await server.request("GET", "/api/openapi.json", role=None)
    assert status == 200 and "/admin" not in doc["paths"] and "/api/admin/overview" in doc["paths"]
