"""Settings from the environment (and a `.env` file in the working folder).

Every name and default here is fixed by SPEC.md §1. Durations are seconds and may
be fractional so that tests can run a whole lifecycle in a few seconds.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from domain.client_address import parse_networks

SECRET_FILE = ".presence-secret"


class SettingsError(ValueError):
    """A setting has a value the server cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./presence.db"
    redis_url: str | None = None
    redis_prefix: str = "presence:"
    jwt_secret: str | None = None
    cron_secret: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    log_format: str = "text"

    widget_heartbeat_interval: float = 30
    widget_offline_after: float = 60
    widget_offline_grace: float = 3
    widget_sweep_every: float = 1

    user_touch_throttle: float = 10
    user_offline_after: float = 1800
    user_sweep_every: float = 60

    session_heartbeat_interval: float = 30
    session_timeout_after: float = 300
    session_sweep_every: float = 300

    stream_credit_block: float = 1800
    stream_warn_after: float = 600
    stream_end_after: float = 900
    stream_check_every: float = 300

    activity_cooldown: float = 300
    # Not in SPEC §1's table (our own): actions per second per person token (REST)
    # and per socket (events) before 429 / a refused ack; bursts of twice that. 0: off.
    rate_limit: float = 50
    tracking_link_ttl: float = 604800
    # Comma-separated origins whose pages may open sockets and call the API from a
    # browser; `*` (the default) lets any page do so. Our own pages (PUBLIC_URL) always may.
    allowed_origins: str = "*"
    # Not in SPEC §1 (our own). Socket.IO connections one client address may hold
    # open on a node (0: no limit); generous, as offices share one address.
    max_connections_per_ip: int = 1000
    # Proxies whose X-Forwarded-For is believed for the client's address (comma-
    # separated addresses or networks, e.g. 127.0.0.1 behind a local nginx). Empty: none.
    trusted_proxies: str = ""

    # Where the random JWT secret is kept when PRESENCE_JWT_SECRET is unset.
    secret_file: Path = field(default=Path(SECRET_FILE))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
        """Reads `PRESENCE_*` variables; the process environment wins over `.env`."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "secret_file":
                continue
            raw = values.get(f"PRESENCE_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            if f.type == "float":
                kwargs[f.name] = _seconds(f"PRESENCE_{f.name.upper()}", raw)
            elif f.type == "int":
                kwargs[f.name] = _whole(f"PRESENCE_{f.name.upper()}", raw)
            else:
                kwargs[f.name] = raw
        settings = cls(**kwargs)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"PRESENCE_LOG_FORMAT must be 'text' or 'json', got {self.log_format!r}")
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                f"PRESENCE_REDIS_URL must start with redis://, rediss:// or unix://, got {self.redis_url!r}"
            )
        for period in (
            "widget_sweep_every",
            "user_sweep_every",
            "session_sweep_every",
            "stream_check_every",
            "widget_heartbeat_interval",
            "session_heartbeat_interval",
            "stream_credit_block",
        ):
            if getattr(self, period) <= 0:
                raise SettingsError(f"{_env(period)} must be more than 0 seconds")
        for shorter, longer in (
            ("widget_heartbeat_interval", "widget_offline_after"),
            ("user_touch_throttle", "user_offline_after"),
            ("session_heartbeat_interval", "session_timeout_after"),
            ("stream_warn_after", "stream_end_after"),
        ):
            if getattr(self, shorter) >= getattr(self, longer) and not (
                shorter == "stream_warn_after" and getattr(self, shorter) == getattr(self, longer)
            ):
                raise SettingsError(
                    f"{_env(shorter)} ({getattr(self, shorter):g}) must be less than {_env(longer)} "
                    f"({getattr(self, longer):g}), or clients would be timed out while doing their part"
                )
        if self.max_connections_per_ip < 0:
            raise SettingsError("PRESENCE_MAX_CONNECTIONS_PER_IP must be 0 (no limit) or more")
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as e:
            raise SettingsError(f"PRESENCE_TRUSTED_PROXIES: {e}") from None
        for origin in self.allowed_origins.split(","):
            origin = origin.strip()
            if origin and origin != "*" and _origin(origin) != origin.rstrip("/"):
                raise SettingsError(
                    f"PRESENCE_ALLOWED_ORIGINS must list origins like https://app.example.com (scheme, host, "
                    f"port; no path), or *, got {origin!r}"
                )
        if "+" not in self.database_url.split("://", 1)[0]:
            raise SettingsError(
                "PRESENCE_DATABASE_URL must name an async driver, e.g. sqlite+aiosqlite:///./presence.db "
                f"or postgresql+psycopg://user@host/db, got {self.database_url!r}"
            )

    def origins(self) -> list[str] | None:
        """The allowed browser origins, or None for any (`*`); PUBLIC_URL's own included."""
        raw = [o.strip().rstrip("/") for o in self.allowed_origins.split(",") if o.strip()]
        if not raw or "*" in raw:
            return None
        own = _origin(self.public_url)
        return raw if own in raw else [*raw, own]

    def socket_origins(self) -> str | list[str]:
        """`cors_allowed_origins` for the Socket.IO server."""
        allowed = self.origins()
        return "*" if allowed is None else allowed

    def resolved_jwt_secret(self) -> str:
        """PRESENCE_JWT_SECRET, or a random secret kept in `.presence-secret` (mode 0600)."""
        if self.jwt_secret:
            return self.jwt_secret
        path = self.secret_file
        if path.is_file():
            text = path.read_text().strip()
            if text:
                return text
        secret = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        except FileExistsError:  # another process created it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
        return secret


def _origin(url: str) -> str:
    """`scheme://host[:port]` of a URL, lower-cased (how browsers send Origin)."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _env(field_name: str) -> str:
    return f"PRESENCE_{field_name.upper()}"


def _whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):
        raise SettingsError(f"{name} must be a finite number of seconds >= 0, got {raw!r}")
    return value
