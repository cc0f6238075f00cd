"""The `presence` command (SPEC.md §1)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from infra.settings import Settings, SettingsError

log = logging.getLogger("presence.cli")

Command = Callable[[argparse.Namespace, Settings], int]
COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        COMMANDS[name] = fn
        return fn

    return register


@command("serve")
def serve(args: argparse.Namespace, settings: Settings) -> int:
    from aiohttp import web

    from presence.app import create_app

    if not _upgrade(settings):
        return 1
    app = create_app(settings)
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=lambda _msg: log.info("serving on http://%s:%d", args.host, args.port),
        access_log=None,
        shutdown_timeout=5,
    )
    return 0


@command("db upgrade")
def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    if not _upgrade(settings):
        return 1
    print("database is up to date")
    return 0


def _upgrade(settings: Settings) -> bool:
    """Applies the migrations; on a database that cannot be reached, one sentence, not a traceback."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from db.migrate import upgrade

    try:
        upgrade(settings.database_url)
    except (SQLAlchemyError, OSError) as e:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
        reason = str(getattr(e, "orig", None) or e).strip().splitlines()[0]
        print(f"presence: cannot migrate the database at {url}: {reason}", file=sys.stderr)
        return False
    return True


@command("token")
def token(args: argparse.Namespace, settings: Settings) -> int:
    from domain.identity import TokenCodec, TokenError

    try:
        print(
            TokenCodec(settings.resolved_jwt_secret()).encode_valid(
                args.sub, args.role, args.company, args.name, args.ttl
            )
        )
    except TokenError as e:
        print(f"presence token: {e}", file=sys.stderr)
        return 2
    return 0


@command("check-offline-users")
def check_offline_users(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_activity import check_offline_users

    return check_offline_users(args, settings)


@command("activity-metrics")
def activity_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_activity import activity_metrics

    return activity_metrics(args, settings)


@command("backfill-last-activity")
def backfill_last_activity(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_activity import backfill_last_activity

    return backfill_last_activity(args, settings)


@command("tracking-link")
def tracking_link(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_attendance import tracking_link

    return tracking_link(args, settings)


@command("auto-timeout")
def auto_timeout(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_attendance import auto_timeout

    return auto_timeout(args, settings)


@command("sessions-export")
def sessions_export(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_attendance import sessions_export

    return sessions_export(args, settings)


@command("monitor-credits")
def monitor_credits(args: argparse.Namespace, settings: Settings) -> int:
    from presence.cli_credits import monitor_credits

    return monitor_credits(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="presence", description="Who is online, for how long, and what it costs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the server (migrations applied first)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="SUBCOMMAND")
    db_sub.add_parser("upgrade", help="apply Alembic migrations to PRESENCE_DATABASE_URL")

    p = sub.add_parser("token", help="print a signed bearer token")
    p.add_argument("--sub", required=True, help="user id")
    p.add_argument("--role", required=True, choices=["admin", "agent", "user", "service"])
    p.add_argument("--company", help="tenant id (required for agent and user)")
    p.add_argument("--name", help="display name")
    p.add_argument("--ttl", type=float, default=3600, help="seconds until it expires (default 3600)")

    from presence import cli_activity, cli_attendance, cli_credits

    cli_activity.add_parsers(sub)
    cli_attendance.add_parsers(sub)
    cli_credits.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as e:
        print(f"presence: {e}", file=sys.stderr)
        return 2
    from infra.logs import configure

    configure(settings.log_format)
    name = args.command if args.command != "db" else f"db {args.db_command}"
    return COMMANDS[name](args, settings)


if __name__ == "__main__":
    sys.exit(main())
