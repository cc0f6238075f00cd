"""Every service of one process, as the composition root built them
(`presence.container.build`); adapters reach the services through this."""

from __future__ import annotations

from dataclasses import dataclass

from domain.clock import Clock
from domain.identity import TokenCodec
from domain.rate_limit import RateLimiter
from infra.jobs import JobRunner
from infra.metrics import Metrics
from infra.settings import Settings
from realtime.store.connections import Connections
from services.activity import ActivityTracker
from services.attendance import Attendance
from services.credits import Credits
from services.operations import Operations
from services.overview import Overview
from services.user_status import UserStatus
from services.widget import AgentRooms, Conversations, WidgetPresence


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    metrics: Metrics
    tokens: TokenCodec
    rate_limit: RateLimiter
    """Per person token over REST (the socket gateway keeps its own, per socket)."""
    jobs: JobRunner
    connections: Connections
    """This node's sockets (empty in a CLI process)."""
    widget: WidgetPresence
    conversations: Conversations
    agents: AgentRooms
    users: UserStatus
    activity: ActivityTracker
    attendance: Attendance
    operations: Operations
    credits: Credits
    """Livestream credit metering (§7)."""
    overview: Overview
    """The admin console's figures (§9)."""
