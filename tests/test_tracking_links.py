"""Signed tracking links and heartbeat secrets alone (domain.tracking_links)."""

from __future__ import annotations

import base64
import json

import pytest

from domain import tracking_links as links
from domain.tracking_links import LinkError, TrackingLink

KEY = links.link_key("jwt-secret")
NOW = 1_760_259_600.0
WEEK = 604_800


def problem(token: str, now: float = NOW, key: bytes = KEY) -> str:
    with pytest.raises(LinkError) as caught:
        links.verify(key, token, now)
    return caught.value.problem


def test_a_signed_link_verifies_to_what_was_signed() -> None:
    token = links.sign(KEY, "m-1", "st-7", "Иван Петров", NOW, WEEK)
    assert links.verify(KEY, token, NOW + 10) == TrackingLink("m-1", "st-7", "Иван Петров", int(NOW) + WEEK)
    assert all(c.isalnum() or c in "-_." for c in token)  # no escaping needed in a URL
    nameless = links.sign(KEY, "m-1", "st-7", None, NOW, WEEK)
    assert links.verify(KEY, nameless, NOW).student_name is None
    assert len(nameless) < 100


def test_the_link_key_is_not_the_jwt_key() -> None:
    assert KEY != b"jwt-secret" and len(KEY) == 32
    assert links.link_key("other") != KEY


def test_expired_after_the_ttl_and_still_says_which_meeting() -> None:
    token = links.sign(KEY, "m-1", "st-7", None, NOW, 60)
    links.verify(KEY, token, NOW + 59)
    with pytest.raises(LinkError) as caught:
        links.verify(KEY, token, NOW + 60)
    assert caught.value.problem == "expired" and caught.value.link is not None
    assert caught.value.link.meeting_id == "m-1"


def test_truncated_links_are_malformed() -> None:
    token = links.sign(KEY, "m-1", "st-7", "Ann", NOW, WEEK)
    for cut in range(1, len(token)):
        assert problem(token[:cut]) == "malformed", cut
    assert problem("") == "malformed"
    assert problem("a.b.c") == "malformed"
    assert problem(token.replace(".", "!")) == "malformed"
    assert problem(token + "=") == "malformed"


def test_altered_or_foreign_links_are_forged() -> None:
    token = links.sign(KEY, "m-1", "st-7", "Ann", NOW, WEEK)
    payload, tag = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body[2] = "st-8"  # someone else's attendance
    altered = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert problem(f"{altered}.{tag}") == "forged"
    body[2], body[4] = "st-7", body[4] + 10 * WEEK  # a longer life
    longer = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    assert problem(f"{longer}.{tag}") == "forged"
    assert problem(token, key=links.link_key("another server")) == "forged"
    flipped = tag[:-2] + ("A" if tag[-2] != "A" else "B") + tag[-1]
    assert problem(f"{payload}.{flipped}") == "forged"


def test_signing_refuses_what_could_never_verify() -> None:
    with pytest.raises(ValueError):
        links.sign(KEY, "", "st", None, NOW, WEEK)
    with pytest.raises(ValueError):
        links.sign(KEY, "m", "x" * 256, None, NOW, WEEK)
    with pytest.raises(ValueError):
        links.sign(KEY, "m", "st", None, NOW, 0)


def test_tracking_url() -> None:
    assert links.tracking_url("https://p.example/", "abc.def") == "https://p.example/t/abc.def"


def test_session_secret_is_stable_and_checked() -> None:
    secret = links.session_secret(KEY, "0f" * 16)
    assert secret == links.session_secret(KEY, "0f" * 16)  # a second click hands out the same
    assert secret != links.session_secret(KEY, "1f" * 16)
    assert links.check_session_secret(KEY, "0f" * 16, secret)
    assert not links.check_session_secret(KEY, "1f" * 16, secret)
    assert not links.check_session_secret(KEY, "0f" * 16, secret[:-1])
    assert not links.check_session_secret(KEY, "0f" * 16, "ünïcode")
    # Domain separation: the secret is not the link tag of anything.
    assert links.session_secret(links.link_key("a"), "s") != links.session_secret(links.link_key("b"), "s")
