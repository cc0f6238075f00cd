"""presence: who is online, for how long, and what it costs.

The composition root (`presence.app.create_app`), settings and the command line
live here; the rules live in `domain/`, the Socket.IO side in `realtime/`, the
REST side in `api/`, storage in `db/`.
"""
