"""Queries per resource; each takes an `AsyncSession` and does one unit of work."""
