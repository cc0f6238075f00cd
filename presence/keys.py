"""Typed application state keys (aiohttp `AppKey`), one place for all of them."""

from __future__ import annotations

from aiohttp import web

# Value types are named as strings so this module imports nothing of the app.

NODE_ID = web.AppKey("node_id", str)
REDIS = web.AppKey("redis", "Redis | None")
SETTINGS = web.AppKey("settings", "Settings")
RATE_LIMIT = web.AppKey("rate_limit", "RateLimiter")
CLOCK = web.AppKey("clock", "Clock")
ENGINE = web.AppKey("engine", "AsyncEngine")
SESSIONS = web.AppKey("sessions", "SessionFactory")
TOKENS = web.AppKey("tokens", "TokenCodec")
USERS = web.AppKey("users", "UserDirectory")
STORE = web.AppKey("store", "PresenceStore")
RECLAIM = web.AppKey("reclaim", "Callable[[], Awaitable[None]]")
SIO = web.AppKey("sio", "socketio.AsyncServer")
WIDGET = web.AppKey("widget", "WidgetPresence")
METRICS = web.AppKey("metrics", "Metrics")
JOBS = web.AppKey("jobs", "JobRunner")
ROUTE_TABLES = web.AppKey("route_tables", "list[RouteTable]")
USER_FEED = web.AppKey("user_feed", "UserStatusFeed")
ACTIVITY = web.AppKey("activity", "ActivityTracker")
COOLDOWNS = web.AppKey("cooldowns", "CooldownStore")
