"""Settings: names and defaults of SPEC.md §1, and a sentence for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.settings import Settings, SettingsError


def test_defaults_are_the_spec_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({}, env_file=None)
    assert s.database_url == "sqlite+aiosqlite:///./presence.db" and s.redis_url is None
    assert (s.widget_heartbeat_interval, s.widget_offline_after, s.widget_offline_grace, s.widget_sweep_every) == (
        30,
        60,
        3,
        1,
    )
    assert (s.user_touch_throttle, s.user_offline_after, s.user_sweep_every) == (10, 1800, 60)
    assert (s.session_heartbeat_interval, s.session_timeout_after, s.session_sweep_every) == (30, 300, 300)
    assert (s.stream_credit_block, s.stream_warn_after, s.stream_end_after, s.stream_check_every) == (
        1800,
        600,
        900,
        300,
    )
    assert (s.activity_cooldown, s.tracking_link_ttl) == (300, 604800)
    assert s.public_url == "http://127.0.0.1:8000"


def test_fractional_seconds_and_env_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PRESENCE_WIDGET_OFFLINE_GRACE=0.25\nPRESENCE_PUBLIC_URL=http://from-dotenv\n")
    s = Settings.from_env({"PRESENCE_PUBLIC_URL": "https://presence.example"}, env_file=env_file)
    assert s.widget_offline_grace == 0.25 and s.public_url == "https://presence.example"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PRESENCE_WIDGET_OFFLINE_AFTER": "a minute"}, "PRESENCE_WIDGET_OFFLINE_AFTER must be a number"),
        ({"PRESENCE_USER_OFFLINE_AFTER": "-1"}, "PRESENCE_USER_OFFLINE_AFTER must be a finite number"),
        ({"PRESENCE_WIDGET_SWEEP_EVERY": "0"}, "PRESENCE_WIDGET_SWEEP_EVERY must be more than 0"),
        (
            {"PRESENCE_WIDGET_HEARTBEAT_INTERVAL": "60"},
            "PRESENCE_WIDGET_HEARTBEAT_INTERVAL (60) must be less than PRESENCE_WIDGET_OFFLINE_AFTER (60)",
        ),
        ({"PRESENCE_USER_TOUCH_THROTTLE": "2000"}, "must be less than PRESENCE_USER_OFFLINE_AFTER"),
        ({"PRESENCE_STREAM_WARN_AFTER": "1000"}, "must be less than PRESENCE_STREAM_END_AFTER"),
        ({"PRESENCE_REDIS_URL": "localhost:6379"}, "PRESENCE_REDIS_URL must start with redis://"),
        ({"PRESENCE_DATABASE_URL": "postgresql://u@h/db"}, "must name an async driver"),
        ({"PRESENCE_LOG_FORMAT": "xml"}, "PRESENCE_LOG_FORMAT must be 'text' or 'json'"),
    ],
)
def test_a_bad_value_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env, env_file=None)
