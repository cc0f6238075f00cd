"""The `presence` command, run as a user would run it (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt
import pytest

from tests.conftest import SECRET
from tests.helpers import free_port

PRESENCE = [sys.executable, "-m", "presence.cli"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    full_env.update(env)
    return subprocess.run(PRESENCE + args, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=60)


def test_token_prints_a_signed_token(tmp_path: Path) -> None:
    out = run(
        ["token", "--sub", "u1", "--role", "agent", "--company", "co", "--name", "Ada", "--ttl", "120"],
        tmp_path,
        PRESENCE_JWT_SECRET=SECRET,
    )
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["sub"] == "u1" and claims["role"] == "agent" and claims["company"] == "co"
    assert claims["name"] == "Ada" and 110 <= claims["exp"] - time.time() <= 121


def test_without_a_secret_one_is_kept_in_a_private_file(tmp_path: Path) -> None:
    first = run(["token", "--sub", "a", "--role", "admin"], tmp_path)
    second = run(["token", "--sub", "a", "--role", "admin"], tmp_path)
    secret_file = tmp_path / ".presence-secret"
    assert first.returncode == 0 and secret_file.is_file()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()
    for out in (first, second):
        assert jwt.decode(out.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "a"


def test_a_bad_setting_is_named(tmp_path: Path) -> None:
    out = run(["db", "upgrade"], tmp_path, PRESENCE_WIDGET_OFFLINE_AFTER="soon")
    assert out.returncode == 2
    assert "PRESENCE_WIDGET_OFFLINE_AFTER must be a number of seconds" in out.stderr


def test_settings_come_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"PRESENCE_JWT_SECRET={SECRET}\n")
    out = run(["token", "--sub", "a", "--role", "admin"], tmp_path)
    assert jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])["sub"] == "a"


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/p.db"
    for _ in range(2):
        out = run(["db", "upgrade"], tmp_path, PRESENCE_DATABASE_URL=url)
        assert out.returncode == 0, out.stderr
    assert (tmp_path / "p.db").is_file()


def test_serve_applies_migrations_and_answers(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESENCE_")}
    env["PRESENCE_JWT_SECRET"] = SECRET
    proc = subprocess.Popen(
        [*PRESENCE, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as resp:
                    health = json.load(resp)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"server did not come up:\n{proc.stdout.read() if proc.stdout else ''}")
                time.sleep(0.1)
        assert health["status"] == "ok" and health["database"] == "ok"
        assert (tmp_path / "presence.db").is_file()  # the default SQLite file, migrated
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--sub", "a", "--role", "agent"], "needs a company"),
        (["--sub", "", "--role", "admin"], "sub must be"),
        (["--sub", "a", "--role", "admin", "--ttl", "-5"], "ttl must be"),
    ],
)
def test_token_refuses_what_the_server_would_refuse(tmp_path: Path, args: list[str], why: str) -> None:
    out = run(["token", *args], tmp_path, PRESENCE_JWT_SECRET=SECRET)
    assert out.returncode == 2 and why in out.stderr and out.stdout == ""


def test_an_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    out = run(["db", "upgrade"], tmp_path, PRESENCE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert out.returncode == 1
    assert out.stderr.startswith(
        "presence: cannot migrate the database at postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
