"""Chat-widget customer presence (SPEC.md §3): widget events, agents' rooms,
conversations, the lease sweep and the ordered feed to agents."""

from services.widget.agents import AgentRooms
from services.widget.conversations import Conversations
from services.widget.service import WidgetPresence

__all__ = ["AgentRooms", "Conversations", "WidgetPresence"]
