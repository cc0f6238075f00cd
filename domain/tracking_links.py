"""Signed tracking links (SPEC.md §6) and the per-session heartbeat secret.

A tracking link is `PRESENCE_PUBLIC_URL/t/<token>`; the token says which meeting
and student it is for, the student's name if known, and until when it works.
Format: `<payload>.<tag>`, both base64url without padding, so it needs no
escaping in a URL or a Telegram button:

- payload: the UTF-8 JSON array `[1, meeting_id, student_id, student_name|null,
  expires_at]` (1 is the format version; `expires_at` whole epoch seconds);
- tag: HMAC-SHA256 of the payload's base64url text, truncated to 16 bytes
  (128 bits: forging one still takes ~2^128 tries; RFC 2104 allows truncating to
  half the hash) to keep the link short.

`verify` says which of four things a token is, so the page can tell the student:
malformed (not two parts, not base64url, a tag of the wrong length: what a
truncated link looks like), forged (the tag does not match: made without our key
or with its payload altered), expired (genuine but past `expires_at`), or valid.
The signature is checked before the expiry, so an altered expiry is "forged".

Keys are bytes given by the caller. `derive_key(jwt_secret, LINK_KEY_PURPOSE)`
gives a link key that differs from the JWT key, so a tracking token can never be
replayed as a bearer token or the other way round.

The heartbeat secret of a session is `HMAC(key, "attendance-session:" + id)`:
derived, not stored, so a second click on the link hands out the same secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from typing import Literal

from domain.ids import MAX_ID_LENGTH

VERSION = 1
TAG_BYTES = 16
LINK_KEY_PURPOSE = "tracking-link"
SESSION_SECRET_PREFIX = "attendance-session:"
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")

LinkProblem = Literal["malformed", "forged", "expired"]


@dataclass(frozen=True, slots=True)
class TrackingLink:
    meeting_id: str
    student_id: str
    student_name: str | None
    expires_at: int


class LinkError(ValueError):
    """The token cannot be used; `problem` says why, the message says it to a person.
    An expired link carries its (genuine) `link`, so the page can name the meeting."""

    def __init__(self, problem: LinkProblem, message: str, link: TrackingLink | None = None) -> None:
        super().__init__(message)
        self.problem: LinkProblem = problem
        self.link = link


def derive_key(secret: str | bytes, purpose: str) -> bytes:
    """A key for one purpose, derived from a master secret: HMAC-SHA256(secret, purpose)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, purpose.encode(), hashlib.sha256).digest()


def link_key(jwt_secret: str | bytes) -> bytes:
    """The tracking-link key derived from the JWT secret (never the JWT key itself)."""
    return derive_key(jwt_secret, LINK_KEY_PURPOSE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _tag(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()[:TAG_BYTES]


def _check_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} must be 1 to {MAX_ID_LENGTH} characters")
    return value


def sign(key: bytes, meeting_id: str, student_id: str, student_name: str | None, now: float, ttl: float) -> str:
    """A token for this meeting and student, valid for `ttl` seconds from `now`
    (`PRESENCE_TRACKING_LINK_TTL`, default 604800: a week)."""
    _check_id("meeting_id", meeting_id)
    _check_id("student_id", student_id)
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    expires_at = math.ceil(now + ttl)
    body = json.dumps(
        [VERSION, meeting_id, student_id, student_name or None, expires_at],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    payload = _b64(body.encode("utf-8"))
    return f"{payload}.{_b64(_tag(key, payload))}"


def verify(key: bytes, token: str, now: float) -> TrackingLink:
    """The link a token stands for; raises LinkError saying malformed, forged or expired."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise LinkError("malformed", "This link is incomplete or damaged: it may have been cut off.")
    payload, tag_text = parts
    try:
        _unb64(payload)
        tag = _unb64(tag_text)
    except (ValueError, binascii.Error):
        raise LinkError("malformed", "This link is damaged: it contains characters a link never has.") from None
    if len(tag) != TAG_BYTES:
        raise LinkError("malformed", "This link is incomplete: it may have been cut off.")
    if not hmac.compare_digest(tag, _tag(key, payload)):
        raise LinkError("forged", "This link was not issued by this server, or it was altered.")
    link = _parse(payload)
    if now >= link.expires_at:
        raise LinkError("expired", "This link has expired: ask for a new one.", link)
    return link


def _parse(payload: str) -> TrackingLink:
    """The payload of a genuine tag. It can only be odd if the format changed."""
    try:
        body = json.loads(_unb64(payload).decode("utf-8"))
        version, meeting_id, student_id, student_name, expires_at = body
        if version != VERSION:
            raise ValueError(f"version {version!r}")
        _check_id("meeting_id", meeting_id)
        _check_id("student_id", student_id)
        if student_name is not None and not isinstance(student_name, str):
            raise ValueError("student_name")
        if not isinstance(expires_at, int) or isinstance(expires_at, bool):
            raise ValueError("expires_at")
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise LinkError("malformed", "This link has a format this server does not understand.") from None
    return TrackingLink(meeting_id, student_id, student_name, expires_at)


def tracking_url(public_url: str, token: str) -> str:
    """`PRESENCE_PUBLIC_URL/t/<token>` (a trailing slash on the base is allowed)."""
    return f"{public_url.rstrip('/')}/t/{token}"


# ------------------------------------------------------------ heartbeat secret
def session_secret(key: bytes, session_id: str) -> str:
    """The session's heartbeat secret: base64url HMAC-SHA256(key, "attendance-session:" + id).
    The same id always gives the same secret, so nothing is stored."""
    mac = hmac.new(key, (SESSION_SECRET_PREFIX + session_id).encode("utf-8"), hashlib.sha256)
    return _b64(mac.digest())


_SECRET_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def looks_like_session_secret(presented: str) -> bool:
    """Whether `presented` has a session secret's shape (43 base64url characters: 32
    bytes). Anything else is not a secret at all (401), rather than another
    session's (403)."""
    return bool(_SECRET_SHAPE.match(presented))


def check_session_secret(key: bytes, session_id: str, presented: str) -> bool:
    """Whether `presented` is this session's secret, in constant time."""
    expected = session_secret(key, session_id).encode("ascii")
    return hmac.compare_digest(expected, presented.encode("utf-8", "replace"))
