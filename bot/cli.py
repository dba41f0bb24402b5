"""The `unionbot` command: run the bot (or only its delivery worker), migrate the database,
load demo data, import the organisation tree, the members' rosters and the titles members
achieved before the bot.

Configuration problems end the command with one line naming the variable and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bot import database
from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from models.org import OrgUnit

log = logging.getLogger("unionbot")

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Runs `main` on uvloop's event loop when it is installed (it is a dependency on Linux
    and macOS), asyncio's own otherwise. uvloop does the same work for about a fifth less CPU
    per message a delivery worker sends (docs/benchmarks.md); nothing in the bot depends on
    which loop runs it."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


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


async def _worker(settings: Settings) -> None:
    """`unionbot worker`: delivers the outbox until SIGINT/SIGTERM, then finishes the sends
    under way."""
    from bot.app import working

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with working(settings) as worker:
        await stop.wait()
        log.info("stopping delivery worker %s", worker.id)
    stats = worker.stats
    log.info(
        "delivery worker %s: %d sent, %d failed, %d blocked, %d recovered after a crash",
        worker.id, stats.sent, stats.failed, stats.blocked, stats.recovered,
    )


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


def _terminal_words(settings: Settings) -> Callable[..., str]:
    """The catalogue's words in DEFAULT_LOCALE, for a terminal (no HTML escaping)."""
    import html

    from bot.i18n import load_translator

    translator = load_translator(settings.default_locale)

    def t(key: str, /, **params: object) -> str:
        return html.unescape(translator.t(None, key, **params))

    return t


async def _read_input(path: Path) -> bytes | None:
    """The file to import, or None (and why, on stderr) when it cannot be read."""
    try:
        return await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        print(f"unionbot: cannot read {path}: {error.strerror}", file=sys.stderr)
        return None


async def _unit_named(session: AsyncSession, code: str, t: Callable[..., str]) -> OrgUnit | None:
    """The unit `--unit CODE` names, or None (and why, on stderr)."""
    from models import roster

    unit = await roster.unit_for_code(session, code)
    if unit is None:
        print(f"unionbot: --unit: {t('error.roster_unit_unknown', unit=code)}", file=sys.stderr)
    return unit


async def _members_import(
    settings: Settings, path: Path, *, unit_code: str, valid_rows: bool, report: Path | None
) -> int:
    """`unionbot members import FILE --unit CODE`: imports a roster as the operator (any unit),
    rows without a unit code going to CODE. Prints the counts, or every problem with its row
    number (in DEFAULT_LOCALE) and writes them to the report file; with problems nothing is
    imported (exit status 1) unless --valid-rows."""
    from models import roster
    from models.errors import DomainError

    t = _terminal_words(settings)
    content = await _read_input(path)
    if content is None:
        return 1
    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
        async with database.create_session_factory(engine)() as session:
            unit = await _unit_named(session, unit_code, t)
            if unit is None:
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


async def _titles_import(settings: Settings, path: Path, *, unit_code: str) -> int:
    """`unionbot titles import FILE --unit CODE`: records the titles the members of CODE's
    subtree achieved outside the bot (earlier school years), all or nothing. Prints every
    problem with its row number (in DEFAULT_LOCALE) and records nothing (status 1), or the
    counts; importing the same file again changes nothing."""
    from models import achievements, roster
    from models.base import utcnow
    from models.errors import DomainError

    t = _terminal_words(settings)
    content = await _read_input(path)
    if content is None:
        return 1
    engine = database.create_engine(settings.database_url)
    try:
        await database.upgrade(engine)
        async with database.create_session_factory(engine)() as session:
            unit = await _unit_named(session, unit_code, t)
            if unit is None:
                return 1
            try:
                result = await achievements.import_awards(
                    session, None, filename=path.name, content=content, unit=unit,
                    now=utcnow(), tz=settings.tz,
                )
            except DomainError as error:
                print(f"unionbot: {path.name}: {t(f'error.{error.code}', **error.params)}",
                      file=sys.stderr)
                return 1
            if not result.imported:
                await session.rollback()
            else:
                await session.commit()
    finally:
        await engine.dispose()
    for row in result.bad_rows:
        problems = roster.describe(row.problems, t)
        print(t("roster.error_line", row=row.number, problems=problems))
    if not result.imported:
        print(t("achievements.cli_errors", file=path.name, bad=len(result.bad_rows),
                total=len(result.rows)))
        return 1
    print(t("achievements.cli_done", file=path.name, created=result.created,
            updated=result.updated, unchanged=result.unchanged, total=len(result.rows)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="unionbot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (polling, or webhook when WEBHOOK_URL is set)")
    commands.add_parser(
        "worker", help="only deliver the outbox (several may share one PostgreSQL)"
    )
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
    titles = commands.add_parser("titles", help="titles members achieved outside the bot")
    titles_commands = titles.add_subparsers(dest="titles_command", required=True)
    titles_import = titles_commands.add_parser(
        "import",
        help="record titles from an .xlsx or .csv file (member code or phone, school year, "
        "title, decision number); nothing changes on an error",
    )
    titles_import.add_argument("file", type=Path)
    titles_import.add_argument(
        "--unit", required=True, metavar="CODE",
        help="the unit whose members (its whole subtree) the file is about",
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
            run_async(_run(settings))
        elif args.command == "worker":
            run_async(_worker(settings))
        elif args.command == "db":
            run_async(_upgrade(settings))
            print("database is up to date")
        elif args.command == "demo-data":
            run_async(_demo(settings))
        elif args.command == "units":
            return run_async(_units_import(settings, args.file))
        elif args.command == "titles":
            return run_async(_titles_import(settings, args.file, unit_code=args.unit))
        elif args.command == "members":
            return run_async(
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
