"""Storage: SQLAlchemy 2 models, the async engine, and queries per resource.

One engine and one `async_sessionmaker(expire_on_commit=False)` per app; a fresh
session for each unit of work (request, socket event, job).
"""
