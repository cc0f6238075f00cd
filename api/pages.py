"""Browser pieces (§9): the built bundles under `/static/` and the demo pages.

The bundles are built from `widget_js/` by npm (`make bundle`); without them the
server still runs and `/static/*.js` answers 503 saying how to build them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from api.routing import PUBLIC, RouteTable

routes = RouteTable("pages")

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "widget_js" / "dist"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BUNDLES = ("widget.js", "presence-agent.js", "presence-user.js", "livestream.js", "tracking.js", "console.js")

# Pages load nothing from outside the server.
PAGE_HEADERS = {
    # Our own origin only ('self' covers our ws:// and wss:// too); inline scripts
    # and styles are the pages' own, written by us, never data.
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@routes.get("/static/{name}", "The browser bundles (§9)", access=PUBLIC, document=False)
async def bundle(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in BUNDLES:
        return web.json_response({"error": "Not found"}, status=404)
    path = BUNDLE_DIR / name
    if not path.is_file():
        return web.Response(
            status=503,
            text=f"// {name} is not built. Build it with `make bundle` "
            "(or: cd widget_js && npm ci && npm run build); it needs Node 18+ and npm.\n",
            content_type="application/javascript",
        )
    return web.FileResponse(
        path, headers={"Content-Type": "application/javascript; charset=utf-8", "Cache-Control": "no-cache"}
    )


def page(template: str) -> web.Response:
    path = TEMPLATES / template
    if not path.is_file():
        return web.json_response({"error": "Not found"}, status=404)
    return web.Response(text=render(template), content_type="text/html", headers=PAGE_HEADERS)


@routes.get("/demo/widget", "Demo page: the widget and a message input", access=PUBLIC, document=False)
async def demo_widget(request: web.Request) -> web.Response:
    return page("demo_widget.html")


@routes.get("/demo/agent", "Demo page: the agent's conversation header", access=PUBLIC, document=False)
async def demo_agent(request: web.Request) -> web.Response:
    return page("demo_agent.html")


@routes.get("/demo/stream", "Demo page: a seller's livestream credits", access=PUBLIC, document=False)
async def demo_stream(request: web.Request) -> web.Response:
    return page("demo_stream.html")


# ---------------------------------------------------------------- templates

TEMPLATE_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # every value is text unless marked safe (only our own JSON is)
    undefined=jinja2.StrictUndefined,  # a value the template names but nobody gave is an error
    trim_blocks=True,
    keep_trailing_newline=True,
)


def render(name: str, **values: Any) -> str:
    """templates/`name` with `values`, each escaped for HTML (Jinja2's autoescape)."""
    return TEMPLATE_ENV.get_template(name).render(**values)


def script_json(value: Any) -> str:
    """JSON for a `<script type="application/json">` block: no `</script>` or
    `<!--` can appear, and JSON.parse reads the escapes back."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_tracking_page(config: Mapping[str, Any]) -> str:
    """The page `GET /t/<token>` answers (templates/tracking.html), for `config`
    = {"sessionId", "secret", "heartbeatInterval", "zoomUrl", "meetingTitle"}."""
    title = str(config.get("meetingTitle") or "Class")
    return render("tracking.html", config_json=Markup(script_json(dict(config))), meeting_title=title)


def render_tracking_error(message: str) -> str:
    """The page a forged, truncated or expired link answers (with status 400)."""
    return render("tracking_error.html", message=message)


def html_page(text: str, status: int = 200) -> web.Response:
    """An HTML answer with the pages' headers (strict CSP, no referrer, no store)."""
    return web.Response(text=text, status=status, content_type="text/html", headers=PAGE_HEADERS)
