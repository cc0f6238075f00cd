"""Which address a request came from, behind proxies we trust (per-IP limits).

A proxy appends the address it received the request from to
`X-Forwarded-For`. Reading from the right, each hop is believed only while
the one that added it is a proxy we trust (PRESENCE_TRUSTED_PROXIES); the
first untrusted address is the client. A client cannot choose its address by
sending the header itself: an untrusted peer's header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """`"127.0.0.1, 10.0.0.0/8, ::1"` → networks; ValueError naming a bad entry."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return networks


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address: `peer` itself, or the nearest untrusted hop of
    `X-Forwarded-For` when the peer is a trusted proxy."""
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop
        if not _trusted(hop, trusted):
            break
    return address
