"""The presence store interface.

A store keeps each conversation's `CustomerPresence` and the agents in each
conversation's room, for the whole cluster. It applies the pure transitions of
`domain.widget_presence` atomically and answers the two questions the sweep
asks: which leases have expired, and which pending departures are due. Nothing
outside a store knows whether the state is in this process or in Redis.

Ordering (SPEC.md §3: agents hear a conversation's changes in the order they
happened). Every transition that has something to tell produces a `Change`,
and the store hands each node the changes of every node in one order, the
order the transitions were applied: the memory store calls the listener inside
the transition itself; the Redis store publishes the change in the same
MULTI/EXEC as the state it describes, so Redis orders both alike, and every
node (this one included) delivers what its subscription receives, in turn.
A departure's `customer:offline` therefore can never overtake the
`customer:online` of a return that was applied after it, on any node.

Registrations (the connect path without the database). A store also keeps,
per conversation, a `Registration`: the conversation as its latest PUT left it
(company, platform, session, name, and the last departure then kept in the
database), with a version that strictly grows with every PUT (the row's
`updated_at` in microseconds, made monotonic under the row lock by
db/queries/conversations.register). `register` keeps a registration unless the
store already holds a newer one, so a copy read from the database before a PUT
can never replace what that PUT wrote. `bind_registered` checks the widget's
session against the registration and binds in one atomic step (memory: one
call without an await; Redis: inside the WATCH/MULTI of the bind), so:

- a PUT writes its registration after its commit and before it voids the old
  session's sockets: a bind ordered before that write is in the snapshot the
  void reads, and a bind ordered after it is checked against the new session;
- a store that does not know the conversation answers None, and the caller
  reads the database and `register`s what it read (never newer than a PUT's);
- the copy expires REGISTRATION_TTL after it was written, before the store
  forgets an idle conversation's presence (FORGET_IDLE_AFTER), so the last
  departure it carries is never older than what the presence itself shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from domain.widget_presence import CustomerPresence, DepartureReason, Notice

FORGET_IDLE_AFTER = 3600.0
"""A conversation offline this long (no socket, no pending departure) is forgotten
by the store; its last departure is kept in the database (`conversations.last_seen`)."""


REGISTRATION_TTL = 3000.0
"""Seconds a registration is kept after it was written (below FORGET_IDLE_AFTER: see the module doc)."""


@dataclass(frozen=True, slots=True)
class Registration:
    """A conversation as its latest PUT (or a read of the database) left it."""

    conversation_id: str
    version: int  # the row's updated_at in microseconds since the epoch; grows with every PUT
    company_id: str
    platform: str
    session_id: str
    customer_name: str | None
    last_seen: float | None
    last_heartbeat: float | None

    def admits(self, session_id: str) -> bool:
        """Whether a widget of this session may bind (only WIDGET conversations have presence)."""
        return self.platform == "WIDGET" and self.session_id == session_id

    def newer_than(self, other: Registration | None) -> bool:
        if other is None or self.version > other.version:
            return True
        # the same PUT read again: keep the later read of the last departure
        return self.version == other.version and (self.last_seen or 0.0) > (other.last_seen or 0.0)


def node_lost_after(sweep_every: float) -> float:
    """A node whose keepalive (every sweep period) is this stale is dead (SIGKILL, lost
    host): its sockets are dropped with reason node_lost, usually well before their
    leases expire. Generous, so a busy node is not taken for dead (and if it is, it
    claims its sockets back). Also how long a node waits, once its store is reachable
    again after an outage, before judging other nodes or restating to its agents what
    it may have missed: by then every live node has refreshed its keepalive and
    claimed its sockets back."""
    return max(10 * sweep_every, 3.0)


@dataclass(frozen=True, slots=True)
class Change:
    """What the agents of one conversation must be told about one transition."""

    conversation_id: str
    session_id: str
    notices: tuple[Notice, ...]
    last_seen: float | None


ChangeListener = Callable[[Change], None]
"""Called once per change, in the cluster-wide order of transitions; must not block."""


@dataclass(frozen=True, slots=True)
class OnlineNow:
    """How many customers are online now (SPEC §3's `isOnline`: a live socket, or
    the grace of a pending departure), and a few of them, latest arrival first."""

    count: int
    recent: list[tuple[str, float]]
    """`(conversation_id, online_since)`, most recently come online first."""


def change_of(p: CustomerPresence, notices: list[Notice]) -> Change:
    return Change(p.conversation_id, p.session_id, tuple(notices), p.last_seen)


@dataclass(slots=True)
class Outcome:
    """The state after a transition, and what agents must be told about it."""

    presence: CustomerPresence
    notices: list[Notice]


class PresenceStore(Protocol):
    async def bind(self, conversation_id: str, session_id: str, sid: str, node: str, now: float) -> Outcome:
        """A widget socket said `widget:online` for this conversation."""

    async def bind_registered(
        self, conversation_id: str, session_id: str, sid: str, node: str, now: float
    ) -> Outcome | Registration | None:
        """`bind`, only if the conversation's registration admits `session_id`, in one atomic
        step: the Outcome when bound; the Registration when it refuses (nothing changed);
        None when the store holds no registration for it (nothing changed)."""

    async def register(self, registration: Registration) -> bool:
        """Keeps the registration unless the store holds a newer one; True when kept."""

    async def registration(self, conversation_id: str) -> Registration | None:
        """The conversation's registration, if the store holds one."""

    async def heartbeat(self, conversation_id: str, sid: str, now: float) -> Outcome | None:
        """Refreshes the socket's lease; None when it holds none (expired or dropped)."""

    async def set_hidden(self, conversation_id: str, sid: str, hidden: bool, now: float) -> Outcome | None:
        """The socket's tab was hidden or shown; None when it holds no lease."""

    async def typing(self, conversation_id: str, sid: str, is_typing: bool, now: float) -> Outcome | None:
        """Relays the customer's typing, in order with the transitions; None when the socket holds no lease."""

    async def drop(
        self, conversation_id: str, sid: str, now: float, reason: DepartureReason, grace: float
    ) -> Outcome | None:
        """The socket is gone; None when it held no lease (already dropped)."""

    async def expire(self, conversation_id: str, sid: str, now: float, offline_after: float) -> Outcome | None:
        """Drops the socket for a timeout if its lease is still expired; None otherwise."""

    async def settle(self, conversation_id: str, now: float) -> Outcome | None:
        """Ends the conversation's pending departure if its grace is over."""

    async def expired(self, now: float, offline_after: float) -> list[tuple[str, str]]:
        """`(conversation_id, sid)` of every lease not refreshed for `offline_after` seconds."""

    async def due_departures(self, now: float) -> list[str]:
        """Conversations whose pending departure's grace is over."""

    async def snapshot(self, conversation_id: str) -> CustomerPresence | None:
        """The customer's presence, or None if never seen."""

    async def snapshots(self, conversation_ids: list[str]) -> dict[str, CustomerPresence]:
        """Many at once (one round trip where it matters); conversations never seen are left out."""

    async def room_sizes(self, conversation_ids: list[str]) -> dict[str, int]:
        """`room_size` of many conversations at once."""

    async def online(self, limit: int) -> OnlineNow:
        """Customers online now, counted in O(1) (an index kept by the transitions,
        not a scan), with up to `limit` of them in O(limit)."""

    async def join_room(self, conversation_id: str, sid: str, node: str) -> None:
        """An agent socket joined the conversation's room."""

    async def leave_room(self, conversation_id: str, sid: str) -> None:
        """An agent socket left the conversation's room (or disconnected)."""

    async def room_size(self, conversation_id: str) -> int:
        """Agent sockets in the conversation's room, on every node."""

    async def lost_nodes(self, now: float, lost_after: float) -> list[str]:
        """Nodes whose keepalive is older than `lost_after` seconds (never this one)."""

    async def forget_node(self, node: str, now: float) -> list[Outcome]:
        """Drops every socket and room membership of a lost node; what agents must be told."""

    def listen(self, listener: ChangeListener) -> None:
        """Adds a listener of changes on this node (before `start`); each listener
        gets every change, in order."""

    async def start(
        self,
        on_forgotten: Callable[[], Awaitable[None]] | None = None,
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        """Starts whatever the store keeps running (a node keepalive); `on_forgotten`
        is called if the cluster took this node for dead, to claim its sockets back;
        `on_gap` when changes may have been missed (the store was unreachable for a
        while) and the cluster has settled again, so agents can be told the state."""

    async def ping(self) -> bool:
        """True when the store's backend answers."""

    async def close(self) -> None:
        """Releases connections; the store is not used afterwards."""
