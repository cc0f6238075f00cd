"""The widget presence rules alone (domain.widget_presence): time is a number."""

from __future__ import annotations

from domain import widget_presence as rules
from domain.widget_presence import CustomerPresence


def fresh() -> CustomerPresence:
    return CustomerPresence("c1", "s1")


def kinds(notices) -> list[str]:
    return [n.kind for n in notices]


def test_first_socket_tells_online_second_only_counts() -> None:
    p = fresh()
    assert kinds(rules.bind(p, "a", "n1", 100.0, "s1")) == ["online"]
    second = rules.bind(p, "b", "n1", 101.0, "s1")
    assert kinds(second) == ["heartbeat"] and second[0].devices == 2
    assert p.online_since == 100.0 and p.last_heartbeat == 101.0


def test_the_last_socket_closing_waits_for_the_grace() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    assert rules.drop(p, "a", 110.0, "closed", grace=3) == []
    assert p.is_online and p.devices == 0
    assert rules.settle(p, 112.9) == []
    told = rules.settle(p, 113.0)
    assert kinds(told) == ["offline"] and told[0].reason == "closed"
    assert not p.is_online and p.last_seen == 110.0 and p.online_since is None


def test_a_socket_back_within_the_grace_cancels_the_departure_silently() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    rules.drop(p, "a", 110.0, "disconnected", grace=3)
    assert kinds(rules.bind(p, "b", "n1", 111.0, "s1")) == ["heartbeat"]
    assert rules.settle(p, 200.0) == []
    assert p.is_online and p.online_since == 100.0


def test_a_timeout_needs_no_grace_and_last_seen_is_the_last_heartbeat() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    rules.heartbeat(p, "a", 130.0)
    assert rules.lease_expired(p.sockets["a"], 189.9, 60) is False
    assert rules.lease_expired(p.sockets["a"], 190.0, 60) is True
    told = rules.drop(p, "a", 190.0, "timeout", grace=3)
    assert kinds(told) == ["offline"] and told[0].reason == "timeout"
    assert p.last_seen == 130.0


def test_a_dropped_socket_has_no_lease_to_refresh() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    rules.drop(p, "a", 101.0, "timeout", grace=0)
    assert rules.heartbeat(p, "a", 102.0) is None
    assert rules.set_hidden(p, "a", True, 102.0) is None
    assert rules.drop(p, "a", 102.0, "closed", grace=3) is None
    assert not p.is_online


def test_away_means_every_live_tab_hidden() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    rules.bind(p, "b", "n1", 100.0, "s1")
    assert rules.set_hidden(p, "a", True, 101.0)[0].away is False
    assert rules.set_hidden(p, "b", True, 101.0)[0].away is True
    rules.drop(p, "b", 102.0, "closed", grace=3)
    assert p.away is True  # the remaining tab is hidden
    rules.drop(p, "a", 103.0, "closed", grace=3)
    assert p.away is False  # nobody is online to be away


def test_the_sweep_does_not_drop_a_lease_refreshed_after_it_was_listed() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    # The sweep listed "a" as expired at 160; a heartbeat arrived before it acted.
    rules.heartbeat(p, "a", 160.5)
    assert rules.expire(p, "a", 161.0, 60) is None
    assert p.is_online
    assert [n.kind for n in rules.expire(p, "a", 221.0, 60)] == ["offline"]


def test_a_tab_coming_or_going_that_flips_away_is_told() -> None:
    p = fresh()
    rules.bind(p, "a", "n1", 100.0, "s1")
    rules.bind(p, "b", "n1", 100.0, "s1")
    rules.set_hidden(p, "b", True, 101.0)
    gone = rules.drop(p, "a", 102.0, "closed", grace=3)  # the visible tab leaves: away now
    assert [n.kind for n in gone] == ["heartbeat", "visibility"] and gone[1].away is True
    back = rules.bind(p, "c", "n1", 103.0, "s1")  # a visible tab arrives: not away
    assert [n.kind for n in back] == ["heartbeat", "visibility"] and back[1].away is False
    assert [n.kind for n in rules.bind(p, "d", "n1", 104.0, "s1")] == ["heartbeat"]  # no change, no notice


def test_iso_rounds_seconds_and_milliseconds_together() -> None:
    from domain.clock import iso

    assert iso(1795476163.9999996) == "2026-11-23T23:22:44.000Z"
    assert iso(1795476163.1234) == "2026-11-23T23:22:43.123Z"
    assert iso(0) == "1970-01-01T00:00:00.000Z"
