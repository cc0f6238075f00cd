"""Headers a browser expects on every answer (issue 12).

`X-Content-Type-Options: nosniff` everywhere, so a JSON or JavaScript answer is
never run as something else. Pages add their own Content-Security-Policy
(`api.pages.PAGE_HEADERS`: our own origin only). Set on `on_response_prepare`,
so WebSocket upgrades and aiohttp's own errors get them too.
"""

from __future__ import annotations

from aiohttp import web


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
