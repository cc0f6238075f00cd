"""The page templates' contract (§6, §9): which placeholders the server fills
and how each value is escaped, so no meeting title, student input or link
message can break out into markup or script. No server needed except for the
last test, which checks the new pages and bundles are routed."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import meta
from jinja2.exceptions import UndefinedError

from api.pages import (
    BUNDLES,
    TEMPLATE_ENV,
    TEMPLATES,
    render,
    render_tracking_error,
    render_tracking_page,
    script_json,
)
from tests.conftest import Server

HOSTILE = "</script><script>alert(1)</script><!-- & \" ' \u2028 {{MEETING_TITLE}} {{CONFIG_JSON}}"


class Collector(HTMLParser):
    """Every script's text by id, every element's text by id, every start tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: dict[str, str] = {}
        self.texts: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open.append((tag, dict(attrs).get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        tag, element_id = self._open[-1]
        if tag == "title":
            self.texts["<title>"] = self.texts.get("<title>", "") + data
        if element_id is None:
            return
        target = self.scripts if tag == "script" else self.texts
        target[element_id] = target.get(element_id, "") + data


def parse(page: str) -> Collector:
    c = Collector()
    c.feed(page)
    c.close()
    return c


def config(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sessionId": "sess-1",
        "secret": "s3cret",
        "heartbeatInterval": 30,
        "zoomUrl": "https://zoom.us/j/123?pwd=a&b=c",
        "meetingTitle": "Algebra",
    }
    base.update(overrides)
    return base


def _variables(name: str) -> set[str]:
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    return meta.find_undeclared_variables(TEMPLATE_ENV.parse(source))


def test_the_tracking_templates_take_exactly_their_values() -> None:
    assert _variables("tracking.html") == {"config_json", "meeting_title"}
    assert _variables("tracking_error.html") == {"message"}


def test_the_config_block_reads_back_exactly_whatever_the_title() -> None:
    cfg = config(meetingTitle=HOSTILE, zoomUrl="https://zoom.us/j/1?a=<b>&c")
    page = render_tracking_page(cfg)
    doc = parse(page)
    assert json.loads(doc.scripts["tracking-config"]) == cfg
    # Only the page's own two scripts: nothing broke out of the data block.
    assert [attrs.get("src") or attrs.get("id") for tag, attrs in doc.tags if tag == "script"] == [
        "tracking-config",
        "/static/tracking.js",
    ]
    # The title is text, in both places, and the placeholders in it stayed literal (one pass).
    assert doc.texts["meeting-title"] == HOSTILE
    assert doc.texts["<title>"] == f"Attendance · {HOSTILE}"
    assert page.count("{{") == 3 * HOSTILE.count("{{")  # only those of the title's three copies


def test_script_json_never_closes_the_script() -> None:
    text = script_json({"t": "</script><!--&"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"t": "</script><!--&"}


def test_the_error_page_shows_the_message_as_text() -> None:
    page = render_tracking_error("This link has expired <b>&</b>")
    doc = parse(page)
    assert doc.texts["tracking-error"] == "This link has expired <b>&</b>"
    assert not [tag for tag, _ in doc.tags if tag in ("script", "b")]


def test_a_missing_value_is_an_error_not_a_blank() -> None:
    with pytest.raises(UndefinedError, match="message"):
        render("tracking_error.html")


def test_templates_load_nothing_from_outside() -> None:
    values = {"page": "overview", "meeting_title": "t", "config_json": "{}", "message": "m"}
    for path in [*Path(TEMPLATES).glob("*.html"), *Path(TEMPLATES).glob("console/*.html")]:
        if path.name.startswith("_"):
            continue  # parts: checked within the pages that include or extend them
        page = render(str(path.relative_to(TEMPLATES)), **values)  # as put together: includes, base and blocks
        assert "{%" not in page and "{{" not in page, path.name
        for tag, attrs in parse(page).tags:
            for name in ("src", "href"):
                value = attrs.get(name) or ""
                assert not re.match(r"^(https?:)?//", value), f"{path.name}: <{tag} {name}={value!r}>"


async def test_the_new_pages_and_bundles_are_served(server: Server) -> None:
    status, body = await server.request("GET", "/demo/stream", role=None)
    assert status == 200
    assert "/static/livestream.js" in body
    async with server.http.get("/demo/stream") as resp:
        assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    for name in ("presence-user.js", "livestream.js", "tracking.js"):
        assert name in BUNDLES
        async with server.http.get(f"/static/{name}") as resp:
            # 200 when built (make bundle), 503 saying how to build it otherwise; never 404.
            assert resp.status in (200, 503), name
