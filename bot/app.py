"""The one place that assembles the bot: the Application and its handlers in order, the web
server, the database, and their start and stop.

`running(settings)` is used by `unionbot run` and by the end-to-end tests alike, so the tests
exercise exactly what production runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import database
from bot.context import Services, UnionApplication, UnionContext
from bot.i18n import load_translator
from bot.persistence import SQLModelPersistence
from bot.settings import SUPPORTED_LOCALES, ConfigError, Settings
from bot.updates import PerChatUpdateProcessor
from bot.web import TelegramWebhook, create_web_app
from handlers import common, help, language, onboarding
from models.members import Channel

log = logging.getLogger(__name__)

# Groups run in order; within a group the first matching handler wins.
GROUP_PREPARE = -1  # locale, private-chat rule
GROUP_FEATURES = 0  # the features, then the catch-alls
GROUP_PERSIST = 100  # write conversation state before the next update


def register_handlers(application: UnionApplication) -> None:
    application.add_handler(TypeHandler(Update, common.prepare_update), group=GROUP_PREPARE)

    # Features. Conversations first: while one is active it sees the update before anyone.
    application.add_handler(onboarding.conversation(), group=GROUP_FEATURES)
    application.add_handler(CommandHandler("profile", onboarding.show_profile), GROUP_FEATURES)
    for handler in [*language.handlers(), *help.handlers()]:
        application.add_handler(handler, group=GROUP_FEATURES)

    # Catch-alls: whatever no feature took.
    application.add_handler(CommandHandler("cancel", common.nothing_to_cancel), GROUP_FEATURES)
    application.add_handler(CallbackQueryHandler(common.stale_button), group=GROUP_FEATURES)
    application.add_handler(
        MessageHandler(filters.COMMAND, common.unknown_command), group=GROUP_FEATURES
    )
    application.add_handler(
        MessageHandler(filters.UpdateType.MESSAGE, common.not_understood), group=GROUP_FEATURES
    )

    application.add_handler(TypeHandler(Update, common.flush_persistence), group=GROUP_PERSIST)
    application.add_error_handler(common.on_error)


def build_application(services: Services) -> UnionApplication:
    settings = services.settings
    assert settings.telegram_bot_token is not None
    base = settings.telegram_base
    builder = (
        ApplicationBuilder()
        .application_class(UnionApplication, kwargs={"services": services})
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .context_types(ContextTypes(context=UnionContext))
        .persistence(SQLModelPersistence(services.sessions))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(PerChatUpdateProcessor())
    )
    if settings.webhook_mode:
        builder = builder.updater(None)
    application: UnionApplication = builder.build()  # type: ignore[assignment]
    register_handlers(application)
    return application


async def set_command_menus(application: UnionApplication) -> None:
    """The command menu in each language, and the default one in the default language."""
    translator = application.services.translator
    for locale in (None, *SUPPORTED_LOCALES):
        commands = [
            BotCommand(name, translator.t(locale, key)) for name, key in help.COMMANDS
        ]
        await application.bot.set_my_commands(commands, language_code=locale)


@dataclass
class Runtime:
    services: Services
    application: UnionApplication
    runner: web.AppRunner
    site: web.TCPSite

    @property
    def http_port(self) -> int:
        server = self.site._server  # aiohttp keeps the bound sockets here
        assert server is not None and server.sockets
        return int(server.sockets[0].getsockname()[1])


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """Starts everything (migrations first) and stops it in reverse order on exit."""
    if settings.telegram_bot_token is None:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    async with AsyncExitStack() as stack:
        engine = database.create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await database.upgrade(engine)
        services = Services(
            settings=settings,
            engine=engine,
            sessions=database.create_session_factory(engine),
            translator=load_translator(settings.default_locale),
            channel=Channel.TELEGRAM,
        )
        application = build_application(services)
        webhook = None
        if settings.webhook_mode:
            assert settings.webhook_secret is not None
            webhook = TelegramWebhook(application, settings.webhook_secret.get_secret_value())

        runner = web.AppRunner(create_web_app(engine=engine, telegram=webhook))
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()

        try:
            await application.initialize()
        except InvalidToken as error:
            raise ConfigError("TELEGRAM_BOT_TOKEN was refused by Telegram") from error
        stack.push_async_callback(application.shutdown)
        await set_command_menus(application)
        await application.start()
        stack.push_async_callback(application.stop)
        if webhook is not None:
            await application.bot.set_webhook(
                url=f"{str(settings.webhook_url).rstrip('/')}/telegram",
                secret_token=webhook.secret.decode(),
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            assert application.updater is not None
            # Starting to poll removes any webhook first (Telegram allows only one of the two).
            await application.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, poll_interval=0.0, timeout=10
            )
            stack.push_async_callback(application.updater.stop)
        log.info(
            "UnionBot is running on Telegram (%s); HTTP on %s:%s",
            "webhook" if webhook else "polling",
            settings.http_host,
            settings.http_port,
        )
        yield Runtime(services, application, runner, site)
