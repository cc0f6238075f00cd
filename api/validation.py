"""Reading and checking request input. Every refusal names the field (§2)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from api.errors import ApiError, bad_request
from domain.ids import MAX_ID_LENGTH


async def json_object(request: web.Request, max_bytes: int | None = None) -> dict[str, Any]:
    """The body as a JSON object; 400 for malformed JSON, 413 past 64 KiB (or `max_bytes`,
    for an endpoint whose largest valid body is larger)."""
    raw = await _read(request, max_bytes)
    if not raw:
        raise ApiError(400, "The request body must be a JSON object", details={"body": "empty"})
    return _object(raw)


async def optional_json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, where no body at all counts as `{}` (a beacon, a
    heartbeat that has nothing to say); a body that is there must still be an object."""
    raw = await request.read()
    return _object(raw) if raw.strip() else {}


async def _read(request: web.Request, max_bytes: int | None) -> bytes:
    if max_bytes is None:
        return await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    try:
        return await request.clone(client_max_size=max_bytes).read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, f"The request body is larger than {max_bytes // 1024} KiB") from None


def _object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON", details={"body": "invalid JSON"}) from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object", details={"body": "expected an object"})
    return body


NUL = "\x00"
"""No stored or searched text may hold it: PostgreSQL's text cannot (SQLite's could, so
both refuse it alike, as 400 rather than the 500 of a failed statement)."""


def _text(field: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise bad_request(field, f"{field} must be at most {max_length} characters")
    if NUL in value:
        raise bad_request(field, f"{field} must not contain NUL characters")
    return value


def required_str(body: dict[str, Any], field: str, max_length: int = MAX_ID_LENGTH) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise bad_request(field, f"{field} is required and must be a non-empty string")
    return _text(field, value, max_length)


def optional_str(body: dict[str, Any], field: str, max_length: int = MAX_ID_LENGTH) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad_request(field, f"{field} must be a string")
    return _text(field, value, max_length)


def one_of(body: dict[str, Any], field: str, choices: tuple[str, ...]) -> str:
    value = body.get(field)
    if value not in choices:
        raise bad_request(field, f"{field} must be one of {', '.join(choices)}")
    return value


def path_id(request: web.Request, name: str = "id") -> str:
    value = request.match_info[name]
    if not value:
        raise bad_request(name, f"{name} must be 1 to {MAX_ID_LENGTH} characters")
    return _text(name, value, MAX_ID_LENGTH)


def query_str(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if not value:
        raise bad_request(name, f"the query parameter {name} is required")
    return _text(name, value, MAX_ID_LENGTH)


def optional_query_str(request: web.Request, name: str, max_length: int) -> str | None:
    """A query parameter that may be absent (or empty: the same), else a string as `_text` checks."""
    value = request.query.get(name)
    return _text(name, value, max_length) if value else None


def query_int(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None:  # given but empty is not an integer: 400, as the schema says
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(name, f"{name} must be an integer") from None
    if not minimum <= value <= maximum:
        raise bad_request(name, f"{name} must be between {minimum} and {maximum}")
    return value
