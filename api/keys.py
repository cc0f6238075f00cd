"""Typed application state keys (aiohttp `AppKey`) of the REST adapters."""

from __future__ import annotations

from aiohttp import web

from api.routing import Endpoint, RouteTable
from services.registry import Services

SERVICES = web.AppKey("services", Services)
"""Every service of this process (built by `presence.container.build`)."""

ENDPOINTS = web.AppKey("endpoints", dict[web.AbstractRoute, Endpoint])
"""The declared policy of every registered route (`api.policy` enforces it)."""

ROUTE_TABLES = web.AppKey("route_tables", list[RouteTable])
"""What is registered, for `/api/openapi.json`."""
