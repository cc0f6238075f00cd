"""The admin console's pages (SPEC §9): `/admin`, `/admin/sessions`, `/admin/streams`.

Each is a template of `api/templates/console/` on the shared layout
(`console/_base.html`, whose blocks it fills), with the shared style, header
(navigation, connection state, reconnecting banner) and sign-in form filled in
here, and the one bundle `/static/console.js`. The pages are public: what they
show comes from the admin REST endpoints and room `admins`, for the token the
admin gives (from `#token=`, this tab's sessionStorage, or the form).
"""

from __future__ import annotations

from aiohttp import web

from api.pages import TEMPLATES, fill, html_page, load
from api.routing import PUBLIC, RouteTable

routes = RouteTable("console")

CONSOLE = TEMPLATES / "console"
PAGES = {"overview": "/admin", "sessions": "/admin/sessions", "streams": "/admin/streams"}

SCRIPTS = """<script src="/static/console.js"></script>
<script>
if (window.PresenceConsole) {
  PresenceConsole.start('%s');
} else {
  var box = document.getElementById('console-error');
  box.textContent = 'The console bundle /static/console.js did not load: ' +
    'build it with `make bundle` (Node 18+ and npm).';
  box.hidden = false;
}
</script>"""


def render_console_page(name: str) -> str:
    """The page `name` (overview, sessions or streams), its navigation marking it current."""
    if name not in PAGES:
        raise KeyError(name)
    header = fill(
        (CONSOLE / "_header.html").read_text(encoding="utf-8"),
        {f"CURRENT_{page.upper()}": ' aria-current="page"' if page == name else "" for page in PAGES},
    )
    return fill(
        load(f"console/{name}.html"),
        {
            "PAGE": name,
            "STYLE": (CONSOLE / "_style.css").read_text(encoding="utf-8"),
            "HEADER": header,
            "SIGNIN": (CONSOLE / "_signin.html").read_text(encoding="utf-8"),
            "SCRIPTS": SCRIPTS % name,
        },
    )


@routes.get("/admin", "The admin console: overview (§9)", access=PUBLIC, document=False)
async def overview_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("overview"))


@routes.get("/admin/sessions", "The admin console: attendance sessions (§6, §9)", access=PUBLIC, document=False)
async def sessions_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("sessions"))


@routes.get("/admin/streams", "The admin console: livestreams and credits (§7, §9)", access=PUBLIC, document=False)
async def streams_page(request: web.Request) -> web.Response:
    return html_page(render_console_page("streams"))
