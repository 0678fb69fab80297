"""Build the Application: every handler is added here; services are opened in post_init, closed in post_shutdown.

    coursebot serve        # see bot/cli.py; settings come from the environment / .env (bot/settings.py)
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable

from .context import BotData, CourseContext, Services
from .handlers import access, admin, escalation, feedback, questions, students, uploads
from .handlers.errors import handle_error, redact
from .jobs import schedule_refresh
from .keyboards import Action
from .models import Database, admin_ids
from .settings import BotSettings

log = logging.getLogger(__name__)


def setup_logging() -> None:
    """PTB's logging preamble; httpx logs request URLs, and Bot API URLs contain the token."""
    logging.basicConfig(format="%(asctime)s - %(name)s - %(levelname)s - %(message)s", level=logging.INFO)
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)


_SECRETS: set[str] = set()


def redact_logs(*secrets: str) -> None:
    """Replace `secrets` in every log record of the process, whatever logger and level writes it: at DEBUG, PTB
    logs its Bot API URLs and httpx every request URL, and both contain the token."""
    if not _SECRETS:
        make_record = logging.getLogRecordFactory()

        def redacting_factory(*args, **kwargs) -> logging.LogRecord:
            return _redacted(make_record(*args, **kwargs))

        logging.setLogRecordFactory(redacting_factory)
    _SECRETS.update(s for s in secrets if s)


def _redacted(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call: logging reports it when the record is emitted
        return record
    # rendered now: PTB logs objects it goes on to change (getFile's result gets the file URL, token included)
    record.msg, record.args = redact(message, list(_SECRETS)), ()
    if record.exc_info and record.exc_info[1] is not None:
        trace = logging.Formatter().formatException(record.exc_info)
        if any(s in trace for s in _SECRETS):
            record.exc_text = redact(trace, list(_SECRETS))  # formatters print exc_text when it is set
    return record


def add_handlers(application: Application) -> None:
    """All the wiring, in one place."""
    application.add_handler(TypeHandler(Update, access.check_access), group=-1)

    application.add_handler(CommandHandler("start", students.start))
    application.add_handler(CommandHandler("help", students.help_command))
    application.add_handler(CommandHandler("fuentes", students.list_sources))
    application.add_handler(CommandHandler("nuevo", students.new_conversation))

    application.add_handler(CommandHandler("documentos", admin.list_documents))
    application.add_handler(CommandHandler("borrar", admin.ask_delete))
    application.add_handler(CommandHandler("reindexar", admin.reindex))
    application.add_handler(CommandHandler("stats", admin.show_stats))
    application.add_handler(CommandHandler("pendientes", admin.show_gaps))
    application.add_handler(CommandHandler("admin", admin.manage_admins))
    application.add_handler(MessageHandler(access.UPLOAD, uploads.receive_document))

    application.add_handler(CallbackQueryHandler(feedback.vote, pattern=Action.LIKE.pattern))
    application.add_handler(CallbackQueryHandler(feedback.vote, pattern=Action.DISLIKE.pattern))
    application.add_handler(CallbackQueryHandler(feedback.show_sources, pattern=Action.SOURCES.pattern))
    application.add_handler(CallbackQueryHandler(feedback.send_document, pattern=Action.DOCUMENT.pattern))
    application.add_handler(CallbackQueryHandler(escalation.escalate, pattern=Action.ESCALATE.pattern))
    application.add_handler(CallbackQueryHandler(admin.confirm_delete, pattern=Action.DELETE.pattern))
    application.add_handler(CallbackQueryHandler(admin.cancel_delete, pattern=Action.KEEP.pattern))
    application.add_handler(CallbackQueryHandler(feedback.expired_button))

    # A staff reply to an escalated question goes to the student (and stops there); other replies are questions.
    application.add_handler(MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE,
                                           escalation.relay_staff_reply))
    application.add_handler(MessageHandler(questions.QUESTION, questions.answer_question), group=1)

    application.add_error_handler(handle_error)


async def post_init(application: Application) -> None:
    """Open the knowledge core and the database, load the model, publish the command menus."""
    services: Services = application.bot_data.services
    knowledge = services.knowledge
    if knowledge.client is None:
        await asyncio.to_thread(knowledge.open)
        services.owns_knowledge = True
    services.db = Database(knowledge.sessions)
    await asyncio.to_thread(services.db.create_tables)
    services.admins |= await services.db.run(admin_ids)  # granted with /admin add; ADMIN_IDS are already in
    try:  # load the model now, so the first student does not wait for it
        await asyncio.to_thread(lambda: knowledge.generator.llama)
    except GeneratorUnavailable as e:
        log.error("the answer model is unavailable (questions will get an apology): %s", e)
    await application.bot.set_my_commands(students.STUDENT_COMMANDS)
    for admin_id in sorted(services.admins):
        await admin.set_admin_commands(application.bot, admin_id)
    scheduled = schedule_refresh(application)
    log.info("serving %s as @%s (%d admins; scheduled refresh: %s)", services.settings.course_name,
             application.bot.username, len(services.admins), ", ".join(scheduled) or "off")


async def post_shutdown(application: Application) -> None:
    """Close what post_init opened."""
    services: Services = application.bot_data.services
    if services.owns_knowledge:
        await asyncio.to_thread(services.knowledge.close)


def build_application(settings: BotSettings, knowledge: Knowledge, request: BaseRequest | None = None) -> Application:
    """The Application for `settings`; `request` replaces the HTTP layer (tests)."""
    token = settings.telegram_bot_token.get_secret_value()
    redact_logs(token, token.partition(":")[2])  # before PTB's first log line, which names its URLs
    builder = (ApplicationBuilder()
               .token(token)
               .base_url(settings.telegram_api_base_url)
               .base_file_url(settings.telegram_file_base_url)
               .context_types(ContextTypes(context=CourseContext, bot_data=BotData))
               .concurrent_updates(True)  # one student's long answer must not hold up the others
               .post_init(post_init)
               .post_shutdown(post_shutdown))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.bot_data.services = Services.build(settings, knowledge)
    add_handlers(application)
    return application
