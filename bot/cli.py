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
    """`unionbot units import FILE`: every error with its row number and nothing changed
    (status 1), or the units created and updated in one transaction and a summary."""
    from models.org_import import import_units

    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
        async with database.create_session_factory(engine)() as session:
            result = await import_units(session, path)
            if result.errors:
                await session.rollback()
                for error in result.errors:
                    print(f"{path.name}: {error}", file=sys.stderr)
                print(
                    f"{path.name}: {len(result.errors)} error(s); nothing was imported",
                    file=sys.stderr,
                )
                return 1
            await session.commit()
    finally:
        await engine.dispose()
    print(f"{path.name}: {result.summary}")
    return 0


async def _members_import(
    settings: Settings, path: Path, *, unit_code: str, valid_rows: bool, report: Path | None
) -> int:
    """`unionbot members import FILE --unit CODE`: imports a roster as the operator (any unit),
    rows without a unit code going to CODE. Prints the counts, or every problem with its row
    number (in DEFAULT_LOCALE) and writes them to the report file; with problems nothing is
    imported (exit status 1) unless --valid-rows."""
    import html

    from bot.i18n import load_translator
    from models import roster
    from models.errors import DomainError

    translator = load_translator(settings.default_locale)

    def t(key: str, /, **params: object) -> str:
        return html.unescape(translator.t(None, key, **params))

    try:
        content = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        print(f"unionbot: cannot read {path}: {error.strerror}", file=sys.stderr)
        return 1
    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
        async with database.create_session_factory(engine)() as session:
            unit = await roster.unit_for_code(session, unit_code)
            if unit is None:
                print(f"unionbot: --unit: {t('error.roster_unit_unknown', unit=unit_code)}",
                      file=sys.stderr)
                return 1
            try:
                result = await roster.import_roster(
                    session, None, filename=path.name, content=content, default_unit=unit,
                    valid_rows=valid_rows,
                )
            except DomainError as error:
                print(f"unionbot: {path.name}: {t(f'error.{error.code}', **error.params)}",
                      file=sys.stderr)
                return 1
            await session.commit()
    finally:
        await engine.dispose()
    for row in result.bad_rows:
        problems = roster.describe(row.problems, t)
        print(t("roster.error_line", row=row.number, problems=problems))
    target = report or path.with_name(roster.report_name(path.name))
    if result.bad_rows:
        await asyncio.to_thread(target.write_bytes, roster.error_report(result, t))
    counts = {"file": path.name, "created": result.created, "updated": result.updated,
              "unchanged": result.unchanged}
    if not result.imported:
        print(t("roster.cli_errors", file=path.name, bad=len(result.bad_rows),
                total=result.total, report=str(target), valid=result.valid))
        return 1
    if result.bad_rows:
        print(t("roster.done_skipped", skipped=len(result.bad_rows), **counts))
        print(t("roster.cli_report", report=str(target)))
    else:
        print(t("roster.done", total=result.total, **counts))
    return 0


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
