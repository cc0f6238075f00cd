"""The JSON error shape of SPEC.md §2, for every endpoint.

`{"error": "<human sentence>", ...}`; 400 carries `"details"` naming the field.
Handlers raise `ApiError`; the middleware also turns aiohttp's own refusals
(unknown path, wrong method, body over the limit) into the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from services import errors as service
from services.errors import unavailable_message

log = logging.getLogger("presence.api")

MAX_BODY_BYTES = 64 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, /, headers: dict[str, str] | None = None, **extra: Any) -> None:
        """`status` and `message` are positional only, so a refusal may carry a JSON
        field named `status` (an attendance session's 410 `{"error", "status"}`)."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra

    def response(self) -> web.Response:
        return web.json_response({"error": self.message, **self.extra}, status=self.status, headers=self.headers)


def bad_request(field: str, message: str) -> ApiError:
    return ApiError(400, message, details={field: message})


def not_found(what: str) -> ApiError:
    return ApiError(404, what)


STATUS_OF: dict[type[service.ServiceError], int] = {
    service.BadInput: 400,
    service.Refused: 400,
    service.Unauthorized: 401,
    service.PaymentRequired: 402,
    service.Forbidden: 403,
    service.NotFound: 404,
    service.Conflict: 409,
    service.Gone: 410,
}


def from_service(e: service.ServiceError) -> ApiError:
    """A service's refusal as the JSON error of §2."""
    error = ApiError(STATUS_OF.get(type(e), 400), e.message)
    error.extra = dict(e.extra)  # not as keywords: a field may be named like a parameter ("status")
    if isinstance(e, service.BadInput):
        error.extra.setdefault("details", {e.field: e.message})
    return error


_AIOHTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "The request body is larger than 64 KiB",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return e.response()
    except service.ServiceError as e:
        return from_service(e).response()
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = _AIOHTTP_MESSAGES.get(e.status, e.reason)
        return web.json_response({"error": message}, status=e.status, headers=_keep_headers(e))
    except Exception as e:
        if (away := unavailable_message(e)) is not None:
            # Down or restarting: no traceback per request, and a status that says "retry".
            log.warning("%s on %s %s: %s", away, request.method, request.path, _first_line(e))
            return web.json_response({"error": away}, status=503, headers={"Retry-After": "1"})
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "Internal server error"}, status=500)


class MalformedRequests(logging.Filter):
    """aiohttp answers 400 to a request it cannot parse (a NUL or a newline in a header,
    a line too long) and logs it as an ERROR with a traceback: the client's fault, which
    any client can repeat at will to flood the log. One WARNING line instead, naming why."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg, record.args = "Malformed request from %s: %s", (remote, " ".join(exc.message.split())[:200])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


MALFORMED_REQUESTS = MalformedRequests()
"""Installed on `aiohttp.server` by `presence.app.create_app` (once: a logger keeps one of each filter)."""


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def _keep_headers(e: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in e.headers.items() if k.lower() in ("allow", "retry-after")}
