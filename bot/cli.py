"""The `unionbot` command: run the bot, migrate the database, load demo data, import the
organisation tree and the members' rosters.

Configuration problems end the command with one line naming the variable and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from bot import database
from bot.settings import ConfigError, Settings, load_settings

log = logging.getLogger("unionbot")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # httpx logs every request URL at INFO, and a Bot API URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # These log whole updates or SQL parameters (personal data) when verbose: keep them quiet.
    quiet = max(logging.INFO, logging.getLevelName(level))
    for name in ("telegram", "aiosqlite", "asyncio"):
        logging.getLogger(name).setLevel(quiet)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)


async def _run(settings: Settings) -> None:
    from bot.app import running

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running(settings):
        await stop.wait()
        log.info("stopping")


async def _upgrade(settings: Settings) -> None:
    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
    finally:
        await engine.dispose()


async def _demo(settings: Settings) -> None:
    from bot.demo import load_demo_data

    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
        summary = await load_demo_data(database.create_session_factory(engine))
    finally:
        await engine.dispose()
    print(summary)


async def _units_import(settings: Settings, path: Path) -> int:
    """`unionbot units import FILE` (the organisation tree feature fills this in)."""
    raise NotImplementedError


async def _members_import(
    settings: Settings, path: Path, *, unit_code: str, valid_rows: bool, report: Path | None
) -> int:
    """`unionbot members import FILE --unit CODE` (the roster feature fills this in)."""
    raise NotImplementedError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unionbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (polling, or webhook when WEBHOOK_URL is set)")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations")
    commands.add_parser("demo-data", help="load a realistic sample organisation and members")
    units = commands.add_parser("units", help="the organisation tree")
    units_commands = units.add_subparsers(dest="units_command", required=True)
    units_import = units_commands.add_parser(
        "import", help="create or update units from an .xlsx file (nothing changes on an error)"
    )
    units_import.add_argument("file", type=Path)
    members = commands.add_parser("members", help="the members' rosters")
    members_commands = members.add_subparsers(dest="members_command", required=True)
    members_import = members_commands.add_parser(
        "import", help="import a roster (.xlsx or .csv); nothing changes on an error by default"
    )
    members_import.add_argument("file", type=Path)
    members_import.add_argument(
        "--unit", required=True, metavar="CODE", help="the unit of rows without a unit code"
    )
    members_import.add_argument(
        "--valid-rows", action="store_true", help="import the valid rows of a file with errors"
    )
    members_import.add_argument(
        "--report", type=Path, help="where to write the error report (default: FILE.errors.xlsx)"
    )
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"unionbot: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "run":
            asyncio.run(_run(settings))
        elif args.command == "db":
            asyncio.run(_upgrade(settings))
            print("database is up to date")
        elif args.command == "demo-data":
            asyncio.run(_demo(settings))
        elif args.command == "units":
            return asyncio.run(_units_import(settings, args.file))
        elif args.command == "members":
            return asyncio.run(
                _members_import(
                    settings,
                    args.file,
                    unit_code=args.unit,
                    valid_rows=args.valid_rows,
                    report=args.report,
                )
            )
    except ConfigError as error:
        print(f"unionbot: configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
