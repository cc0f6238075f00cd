"""Alembic migrations (async env). Apply with `presence db upgrade`."""
