"""The student's side of attendance sessions (SPEC.md §6): the tracking link
`GET /t/<token>` and the page's heartbeat and end requests.

The session endpoints take the session's secret as bearer (`SESSION` access:
the policy middleware answers 401 without one and hands the raw secret over in
`request[BEARER]`; the service checks it against the session). Heartbeats are
not §5 activity, and no person token is involved anyway.
"""

from __future__ import annotations

from aiohttp import web

from api import schemas
from api.keys import SERVICES
from api.pages import html_page, render_tracking_error, render_tracking_page
from api.policy import BEARER
from api.routing import PUBLIC, SESSION, Reply, RouteTable
from api.validation import optional_json_object, path_id
from domain.clock import iso_dt
from services.attendance import BadLink
from services.errors import NotFound

routes = RouteTable("sessions")

NO_BODY = {"type": "object", "description": "nothing is read from it: send {} or no body at all"}
GONE = Reply("the session has ended (a late heartbeat ends it as the sweep would)", schemas.SESSION_ENDED)
SECRET_REFUSALS = {
    401: "no bearer, or one that is not a session secret",
    403: "the secret of another session",
    404: "unknown session id",
}
INCOMPLETE = "This link is incomplete: it may have been cut off."


@routes.get(
    "/t/{token}",
    "The tracking link of the Telegram button: records the click (a second click reuses the student's "
    "active session) and answers the tracking page (text/html)",
    access=PUBLIC,
    # An HTML page, not part of the REST API: whether a link is valid is its signature,
    # which no schema can say, so it is described here and left out of the document.
    document=False,
    responses={
        200: "the tracking page, with script#tracking-config {sessionId, secret, heartbeatInterval, zoomUrl, "
        "meetingTitle}",
        400: "forged, expired or truncated link: an HTML page saying which",
        404: "the link's meeting is not stored: an HTML page saying so",
    },
)
async def tracking_page(request: web.Request) -> web.Response:
    try:
        tracking = await request.app[SERVICES].attendance.open_link(request.match_info["token"])
    except BadLink as e:
        return html_page(render_tracking_error(e.message), status=400)
    except NotFound as e:
        return html_page(render_tracking_error(e.message), status=404)
    return html_page(render_tracking_page(tracking.page_config()))


@routes.get("/t/", "A tracking link cut off before its token", access=PUBLIC, document=False)
async def tracking_page_without_token(request: web.Request) -> web.Response:
    return html_page(render_tracking_error(INCOMPLETE), status=400)


@routes.post(
    "/api/sessions/{id}/heartbeat",
    "The tracking page is still open (every heartbeatInterval); the session's secret as bearer",
    access=SESSION,
    activity=False,
    body=NO_BODY,
    body_required=False,
    responses={200: Reply("the session is still active", schemas.SESSION_HEARTBEAT), **SECRET_REFUSALS, 410: GONE},
)
async def heartbeat(request: web.Request) -> web.Response:
    session_id = path_id(request)
    await optional_json_object(request)
    row, elapsed = await request.app[SERVICES].attendance.heartbeat(session_id, request[BEARER])
    return web.json_response(
        {"status": row.status, "lastActivityAt": iso_dt(row.last_activity_at), "elapsedMinutes": elapsed}
    )


@routes.post(
    "/api/sessions/{id}/end",
    "The student has left: the session ends now, status completed, counted to now; the session's secret as bearer",
    access=SESSION,
    activity=False,
    body=NO_BODY,
    body_required=False,
    responses={200: Reply("the ended session's row", schemas.SESSION_ROW), **SECRET_REFUSALS, 410: GONE},
)
async def end(request: web.Request) -> web.Response:
    session_id = path_id(request)
    await optional_json_object(request)
    return web.json_response(await request.app[SERVICES].attendance.end(session_id, request[BEARER]))
