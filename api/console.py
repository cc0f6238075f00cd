"""The admin console's pages (SPEC §9): `/admin`, `/admin/sessions`, `/admin/streams`.

Each is a template of `api/templates/console/` on the shared layout
(`console/_base.html`, whose blocks it fills; it includes the style, the header
with the navigation, connection state and reconnecting banner, the sign-in form
and the one bundle `/static/console.js`). The pages are public: what they
show comes from the admin REST endpoints and room `admins`, for the token the
admin gives (from `#token=`, this tab's sessionStorage, or the form).
"""

from __future__ import annotations

from aiohttp import web

from api.pages import html_page, render
from api.routing import PUBLIC, RouteTable

routes = RouteTable("console")

PAGES = {"overview": "/admin", "sessions": "/admin/sessions", "streams": "/admin/streams"}


def render_console_page(name: str) -> str:
    """The page `name` (overview, sessions or streams), its navigation marking it current."""
    if name not in PAGES:
        raise KeyError(name)
    return render(f"console/{name}.html", page=name)


@routes.get("/admin", "The admin console: overview (§9)", access=PUBLIC, document=False)
async def overview_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("overview"))


@routes.get("/admin/sessions", "The admin console: attendance sessions (§6, §9)", access=PUBLIC, document=False)
async def sessions_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("sessions"))


@routes.get("/admin/streams", "The admin console: livestreams and credits (§7, §9)", access=PUBLIC, document=False)
async def streams_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("streams"))
