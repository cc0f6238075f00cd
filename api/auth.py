"""Who is calling (SPEC.md §2): the bearer token, checked against the roles an
endpoint admits. An accepted person is recorded as seen (user row on first
sight, kept online)."""

from __future__ import annotations

from aiohttp import web

from api.errors import ApiError
from domain.identity import Identity, TokenError
from presence import keys

IDENTITY = web.RequestKey("identity", Identity)
"""The authenticated caller, set by `authenticate` (for middlewares that act after the handler)."""


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(request: web.Request, *roles: str, keep_online: bool = True) -> Identity:
    """The caller's identity: 401 without a valid token, 403 when its role is not in `roles`.

    An accepted person is recorded as seen, which keeps them online (§4); with
    `keep_online=False` (logout) the row is only made to exist.
    """
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, "A bearer token is required (Authorization: Bearer <token>)")
    try:
        identity = request.app[keys.TOKENS].decode(token)
    except TokenError as e:
        raise ApiError(401, str(e)) from None
    if roles and identity.role not in roles:
        raise ApiError(403, f"This needs a token with role {' or '.join(roles)}, not {identity.role}")
    request[IDENTITY] = identity
    users = request.app[keys.USERS]
    await (users.seen(identity) if keep_online else users.known(identity))
    return identity


def require_company(identity: Identity, company_id: str) -> None:
    """Agents see their own company only; admins and services see every company."""
    if identity.role in ("admin", "service"):
        return
    if identity.company != company_id:
        raise ApiError(403, "This belongs to another company")
