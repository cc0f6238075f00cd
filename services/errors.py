"""What a service says when it refuses: one exception per kind of refusal.

Adapters map them: REST to the status codes of SPEC.md §2 (`api/errors.py`),
Socket.IO to a refused ack `{"ok": false, "error"}`. The message is a sentence
for the person who sent the request.
"""

from __future__ import annotations

from typing import Any

from db.engine import unavailable
from infra.cluster import redis_unavailable


class ServiceError(Exception):
    """A refusal; nothing was changed."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class BadInput(ServiceError):
    """The input cannot be used; `field` names what is wrong (400)."""

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.field = field


class Refused(ServiceError):
    """An event or request that cannot be done now, as it stands (400; a refused ack)."""


class Unauthorized(ServiceError):
    """The credentials presented are not credentials at all, e.g. a bearer that has
    no session secret's shape (401)."""


class PaymentRequired(ServiceError):
    """Not enough credits (402)."""


class Forbidden(ServiceError):
    """The caller may not do this: another tenant, another owner (403)."""


class NotFound(ServiceError):
    """No such thing (404)."""


class Conflict(ServiceError):
    """It conflicts with the stored state (409)."""


class Gone(ServiceError):
    """It has ended and stays ended (410)."""


DATABASE_UNAVAILABLE = "The database is unavailable for a moment; try again shortly"
REDIS_UNAVAILABLE = "The server's shared state (Redis) is unavailable for a moment; try again shortly"


def unavailable_message(error: BaseException) -> str | None:
    """For an error that says a backend is away for now (down, restarting), the sentence
    to answer with (REST: 503 and Retry-After; sockets: the refusal); else None."""
    if unavailable(error):
        return DATABASE_UNAVAILABLE
    if redis_unavailable(error):
        return REDIS_UNAVAILABLE
    return None
