"""Socket.IO room names, defined once (SPEC.md §3, §4, §6, §7).

Every emit names its audience with one of these, so a room is spelled the same
by the server, a CLI process and the tests.
"""

from __future__ import annotations

ADMINS_ROOM = "admins"
"""Every admin socket: user status (§4), attendance sessions (§6), the console (§9)."""


def conversation_room(conversation_id: str) -> str:
    """The agents following a conversation (§3)."""
    return f"conversation:{conversation_id}"


def user_room(sub: str) -> str:
    """Every socket of one person, e.g. a seller's livestream notices (§7)."""
    return f"user:{sub}"
