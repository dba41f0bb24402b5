"""The one place that assembles the bot: the Application and its handlers in order, the web
server, the database, and their start and stop.

`running(settings)` is used by `unionbot run` and by the end-to-end tests alike, so the tests
exercise exactly what production runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace

from aiohttp import web
from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import database
from bot.context import Services, UnionApplication, UnionContext
from bot.delivery import BotSender, DeliveryConfig, DeliveryWorker, Sender
from bot.i18n import load_translator
from bot.persistence import SQLModelPersistence
from bot.scheduler import Scheduler
from bot.settings import SUPPORTED_LOCALES, ConfigError, Settings, require_a_channel
from bot.telegram_sender import TelegramSender
from bot.updates import PerChatUpdateProcessor
from bot.web import TelegramWebhook, ZaloWebhook, create_web_app
from bot.zalo_api import ZaloClient
from bot.zalo_bridge import ZaloBridge, ZaloRequest
from handlers import (
    achievements,
    announce,
    announcements,
    approvals,
    common,
    directory,
    help,
    initiative_calls,
    initiative_reports,
    initiative_review,
    initiatives,
    invites,
    language,
    linking,
    movement_admin,
    movement_reports,
    movement_units,
    movements,
    onboarding,
    privacy,
    reminders,
    roster,
    units,
)
from models.members import Channel
from models.persistence import NAMESPACE

log = logging.getLogger(__name__)

# Groups run in order; within a group the first matching handler wins.
GROUP_PREPARE = -1  # locale, private-chat rule
GROUP_FEATURES = 0  # the features, then the catch-alls
GROUP_PERSIST = 100  # write conversation state before the next update


def register_handlers(application: UnionApplication) -> None:
    application.add_handler(TypeHandler(Update, common.prepare_update), group=GROUP_PREPARE)

    # A member acknowledging an announcement may be in the middle of any flow: the tap is taken
    # before the conversations see it, so their place in that flow stays.
    application.add_handler(announcements.acknowledgement(), group=GROUP_FEATURES)
    # Features. Conversations first: while one is active it sees the update before anyone.
    application.add_handler(onboarding.conversation(), group=GROUP_FEATURES)
    application.add_handler(CommandHandler("profile", onboarding.show_profile), GROUP_FEATURES)
    application.add_handler(
        CallbackQueryHandler(onboarding.chose_channel, pattern=onboarding.PREFER_PATTERN),
        GROUP_FEATURES,
    )
    for handler in [*linking.handlers(), *language.handlers(), *help.handlers()]:
        application.add_handler(handler, group=GROUP_FEATURES)
    # The officials' tools (each asks models.access before acting), then the member's privacy.
    for feature in (
        units, roster, invites, approvals, directory, privacy,
        movements, movement_units, movement_admin, movement_reports,
        initiative_calls, initiative_reports, initiatives, initiative_review, achievements,
        announce, announcements, reminders,
    ):
        for handler in feature.handlers():
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


def _builder(services: Services, token: str, namespace: str) -> ApplicationBuilder:  # type: ignore[type-arg]
    return (
        ApplicationBuilder()
        .application_class(UnionApplication, kwargs={"services": services})
        .token(token)
        .context_types(ContextTypes(context=UnionContext))
        .persistence(SQLModelPersistence(services.sessions, namespace=namespace))
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .concurrent_updates(PerChatUpdateProcessor())
    )


def build_application(services: Services) -> UnionApplication:
    """The Telegram Application."""
    settings = services.settings
    assert settings.telegram_bot_token is not None
    base = settings.telegram_base
    builder = (
        _builder(
            services,
            settings.telegram_bot_token.get_secret_value(),
            NAMESPACE[Channel.TELEGRAM],
        )
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
    )
    if settings.webhook_mode:
        builder = builder.updater(None)
    application: UnionApplication = builder.build()  # type: ignore[assignment]
    register_handlers(application)
    return application


def build_zalo_application(services: Services, bridge: ZaloBridge) -> UnionApplication:
    """The Zalo Application: the same handlers, its bot talking to Zalo through the bridge."""
    settings = services.settings
    assert settings.zalo_bot_token is not None
    builder = (
        _builder(services, settings.zalo_bot_token.get_secret_value(), NAMESPACE[Channel.ZALO])
        .request(ZaloRequest(bridge))
        .get_updates_request(ZaloRequest(bridge))
    )
    if settings.webhook_mode:
        builder = builder.updater(None)
    application: UnionApplication = builder.build()  # type: ignore[assignment]
    register_handlers(application)
    bridge.bot = application.bot
    bridge.accepts_text = lambda update: takes_typed_text(application, update)
    return application


def takes_typed_text(application: UnionApplication, update: Update) -> bool:
    """Whether a feature would take this text message as an answer (a name, a search), rather
    than only the catch-alls that say "that is not what I asked" (marked `refuses_text`)."""
    for handler in application.handlers.get(GROUP_FEATURES, []):
        check = handler.check_update(update)
        if check is None or check is False:
            continue
        if isinstance(handler, ConversationHandler):
            handler = check[2]  # (state, key, the state's handler, its check)
        return not getattr(handler.callback, "refuses_text", False)
    return False


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
    applications: dict[str, UnionApplication]
    runner: web.AppRunner
    site: web.TCPSite
    delivery: DeliveryWorker | None = None
    scheduler: Scheduler | None = None

    @property
    def application(self) -> UnionApplication:
        """The first channel's Application (Telegram when it is configured)."""
        return next(iter(self.applications.values()))

    @property
    def http_port(self) -> int:
        server = self.site._server  # aiohttp keeps the bound sockets here
        assert server is not None and server.sockets
        return int(server.sockets[0].getsockname()[1])


TOKEN_VARIABLE = {Channel.TELEGRAM: "TELEGRAM_BOT_TOKEN", Channel.ZALO: "ZALO_BOT_TOKEN"}
WEBHOOK_PATH = {Channel.TELEGRAM: "/telegram", Channel.ZALO: "/zalo"}


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Runtime]:
    """Starts everything (migrations first) and stops it in reverse order on exit: one web
    server, and one Application per configured channel."""
    require_a_channel(settings)
    async with AsyncExitStack() as stack:
        engine = database.create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await database.upgrade(engine)
        shared = Services(
            settings=settings,
            engine=engine,
            sessions=database.create_session_factory(engine),
            translator=load_translator(settings.default_locale),
            channel=Channel.TELEGRAM,
        )
        applications: dict[str, UnionApplication] = {}
        webhooks: dict[str, TelegramWebhook | ZaloWebhook] = {}
        if settings.telegram_bot_token is not None:
            application = build_application(replace(shared, channel=Channel.TELEGRAM))
            applications[Channel.TELEGRAM] = application
            if settings.webhook_mode:
                assert settings.webhook_secret is not None
                webhooks[Channel.TELEGRAM] = TelegramWebhook(
                    application, settings.webhook_secret.get_secret_value()
                )
        if settings.zalo_bot_token is not None:
            client = ZaloClient(settings.zalo_bot_token.get_secret_value(), settings.zalo_base)
            await client.start()
            stack.push_async_callback(client.close)
            services = replace(shared, channel=Channel.ZALO)
            bridge = ZaloBridge(client, services.sessions, services.translator)
            application = build_zalo_application(services, bridge)
            applications[Channel.ZALO] = application
            if settings.webhook_mode:
                assert settings.zalo_webhook_secret is not None
                webhooks[Channel.ZALO] = ZaloWebhook(
                    application, bridge, settings.zalo_webhook_secret.get_secret_value()
                )
        # Every channel can reach a person on any channel (an official on Telegram hears of a
        # member who joined on Zalo).
        for application in applications.values():
            shared.bots[application.services.channel] = application.bot

        runner = web.AppRunner(
            create_web_app(
                engine=engine,
                telegram=webhooks.get(Channel.TELEGRAM),  # type: ignore[arg-type]
                zalo=webhooks.get(Channel.ZALO),  # type: ignore[arg-type]
            )
        )
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()

        for channel, application in applications.items():
            try:
                await application.initialize()
            except InvalidToken as error:
                raise ConfigError(
                    f"{TOKEN_VARIABLE[channel]} was refused by {channel.capitalize()}"
                ) from error
            stack.push_async_callback(application.shutdown)
            await set_command_menus(application)
            await application.start()
            stack.push_async_callback(application.stop)
            if channel in webhooks:
                await application.bot.set_webhook(
                    url=f"{str(settings.webhook_url).rstrip('/')}{WEBHOOK_PATH[channel]}",
                    secret_token=webhooks[channel].secret.decode(),
                    allowed_updates=Update.ALL_TYPES,
                )
            else:
                assert application.updater is not None
                # Starting to poll removes any webhook first (both platforms allow only one).
                await application.updater.start_polling(
                    allowed_updates=Update.ALL_TYPES,
                    poll_interval=0.0,
                    timeout=10 if channel == Channel.TELEGRAM else 30,
                )
                stack.push_async_callback(application.updater.stop)
        delivery = None
        if settings.delivery_in_run:
            # Telegram through the lean sender (the Application's bot costs ~2 ms of CPU a
            # send); Zalo through the Application's bot and its bridge.
            senders: dict[str, Sender] = {
                channel: BotSender(bot) for channel, bot in shared.bots.items()
            }
            if Channel.TELEGRAM in senders:
                senders[Channel.TELEGRAM] = await _start_sender(
                    stack, Channel.TELEGRAM, telegram_sender(settings)
                )
            delivery = DeliveryWorker(
                shared.sessions, senders, DeliveryConfig.from_settings(settings)
            )
            await delivery.start()
            stack.push_async_callback(delivery.stop)
            shared.wakers.append(delivery.wake)
        scheduler = Scheduler(
            shared.sessions, shared.translator, settings,
            on_queued=delivery.wake if delivery is not None else None,
        )
        scheduler.start()
        stack.push_async_callback(scheduler.stop)
        shared.wakers.append(scheduler.wake)
        log.info(
            "UnionBot is running on %s; HTTP on %s:%s",
            ", ".join(
                f"{channel.capitalize()} ({'webhook' if channel in webhooks else 'polling'})"
                for channel in applications
            ),
            settings.http_host,
            settings.http_port,
        )
        yield Runtime(shared, applications, runner, site, delivery, scheduler)


@asynccontextmanager
async def delivery_senders(
    settings: Settings, sessions: database.SessionFactory
) -> AsyncIterator[dict[str, Sender]]:
    """How a worker of its own reaches each configured channel (no handlers, no updates):
    Telegram through the lean TelegramSender, one connection per send in flight; Zalo through
    a bare bot on the bridge."""
    async with AsyncExitStack() as stack:
        senders: dict[str, Sender] = {}
        if settings.telegram_bot_token is not None:
            senders[Channel.TELEGRAM] = await _start_sender(
                stack, Channel.TELEGRAM, telegram_sender(settings)
            )
        if settings.zalo_bot_token is not None:
            client = ZaloClient(settings.zalo_bot_token.get_secret_value(), settings.zalo_base)
            await client.start()
            stack.push_async_callback(client.close)
            bridge = ZaloBridge(client, sessions, load_translator(settings.default_locale))
            bot = ExtBot(
                settings.zalo_bot_token.get_secret_value(),
                defaults=Defaults(parse_mode=ParseMode.HTML),
                request=ZaloRequest(bridge), get_updates_request=ZaloRequest(bridge),
            )
            bridge.bot = bot
            try:
                await bot.initialize()
            except InvalidToken as error:
                raise ConfigError(f"{TOKEN_VARIABLE[Channel.ZALO]} was refused by Zalo") from error
            stack.push_async_callback(bot.shutdown)
            senders[Channel.ZALO] = BotSender(bot)
        yield senders


def telegram_sender(settings: Settings) -> TelegramSender:
    assert settings.telegram_bot_token is not None
    return TelegramSender(
        settings.telegram_bot_token.get_secret_value(), settings.telegram_base,
        connections=max(settings.delivery_concurrency, 8),
    )


async def _start_sender(
    stack: AsyncExitStack, channel: str, sender: TelegramSender
) -> TelegramSender:
    try:
        await sender.start()
    except InvalidToken as error:
        raise ConfigError(
            f"{TOKEN_VARIABLE[channel]} was refused by {channel.capitalize()}"
        ) from error
    stack.push_async_callback(sender.close)
    return sender


@asynccontextmanager
async def working(settings: Settings) -> AsyncIterator[DeliveryWorker]:
    """`unionbot worker`: only the delivery worker (no handlers, no web server). Several of
    these may share one PostgreSQL."""
    require_a_channel(settings)
    async with AsyncExitStack() as stack:
        engine = database.create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        await database.upgrade(engine)
        sessions = database.create_session_factory(engine)
        senders = await stack.enter_async_context(delivery_senders(settings, sessions))
        worker = DeliveryWorker(sessions, senders, DeliveryConfig.from_settings(settings))
        await worker.start()
        stack.push_async_callback(worker.stop)
        log.info("delivery worker %s is running on %s", worker.id, ", ".join(senders))
        yield worker
