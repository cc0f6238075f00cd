"""Presence state behind one small interface (`PresenceStore`), with siblings
`memory` (one process) and `redis` (a cluster), chosen by `create_store`."""

from realtime.store.base import Outcome, PresenceStore
from realtime.store.factory import create_store

__all__ = ["Outcome", "PresenceStore", "create_store"]
