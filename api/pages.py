"""Browser pieces (§9): the built bundles under `/static/` and the demo pages.

The bundles are built from `widget_js/` by npm (`make bundle`); without them the
server still runs and `/static/*.js` answers 503 saying how to build them.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.routing import PUBLIC, RouteTable

routes = RouteTable("pages")

ROOT = Path(__file__).resolve().parent.parent
BUNDLE_DIR = ROOT / "widget_js" / "dist"
TEMPLATES = Path(__file__).resolve().parent / "templates"
BUNDLES = ("widget.js", "presence-agent.js")

# Pages load nothing from outside the server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@routes.get("/static/{name}", "The browser bundles: widget.js, presence-agent.js", access=PUBLIC, document=False)
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
    return web.Response(text=path.read_text(encoding="utf-8"), content_type="text/html", headers=PAGE_HEADERS)


@routes.get("/demo/widget", "Demo page: the widget and a message input", access=PUBLIC, document=False)
async def demo_widget(request: web.Request) -> web.Response:
    return page("demo_widget.html")


@routes.get("/demo/agent", "Demo page: the agent's conversation header", access=PUBLIC, document=False)
async def demo_agent(request: web.Request) -> web.Response:
    return page("demo_agent.html")
