"""Build the Application: every handler is added here; services are opened in post_init, closed in post_shutdown.

    coursebot serve        # see bot/cli.py; settings come from the environment / .env (bot/settings.py)
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import (
    AIORateLimiter,
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
from knowledge.leases import give_up

from . import materials
from .context import BotData, CourseContext, Services
from .handlers import access, admin, escalation, feedback, media, questions, students, uploads
from .handlers.access import staff_only
from .handlers.errors import handle_error, redact
from .jobs import SCHEDULER_LEASE, schedule_refresh
from .keyboards import Action
from .settings import BotSettings
from .tables import Database

log = logging.getLogger(__name__)
RATE_LIMIT_RETRIES = 3  # a request refused by flood control is sent again this often after waiting as told


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


# Commands from new messages only: PTB also runs commands from edited messages, and an edit is not a new request.
NEW = filters.UpdateType.MESSAGE


def add_handlers(application: Application) -> None:
    """All the wiring, in one place. Every admin-only handler goes through `staff_only`, here and nowhere else."""
    application.add_handler(TypeHandler(Update, access.check_access), group=-1)

    application.add_handler(CommandHandler("start", students.start, filters=NEW))
    application.add_handler(CommandHandler("help", students.help_command, filters=NEW))
    application.add_handler(CommandHandler("fuentes", students.list_sources, filters=NEW))
    application.add_handler(CommandHandler("nuevo", students.new_conversation, filters=NEW))

    for command, handler in (("documentos", admin.list_documents), ("borrar", admin.ask_delete),
                             ("reindexar", admin.reindex), ("stats", admin.show_stats),
                             ("pendientes", admin.show_gaps), ("admin", admin.manage_admins)):
        application.add_handler(CommandHandler(command, staff_only(handler), filters=NEW))
    # a student's document is not an upload: refused quietly here, answered by `questions.cannot_read` (or its
    # caption answered as a question) in group 1
    application.add_handler(MessageHandler(access.UPLOAD, staff_only(uploads.receive_document, quiet=True)))

    application.add_handler(CallbackQueryHandler(feedback.vote, pattern=Action.LIKE.pattern))
    application.add_handler(CallbackQueryHandler(feedback.vote, pattern=Action.DISLIKE.pattern))
    application.add_handler(CallbackQueryHandler(feedback.show_sources, pattern=Action.SOURCES.pattern))
    application.add_handler(CallbackQueryHandler(feedback.send_document, pattern=Action.DOCUMENT.pattern))
    application.add_handler(CallbackQueryHandler(escalation.escalate, pattern=Action.ESCALATE.pattern))
    application.add_handler(CallbackQueryHandler(staff_only(admin.confirm_delete), pattern=Action.DELETE.pattern))
    application.add_handler(CallbackQueryHandler(staff_only(admin.cancel_delete), pattern=Action.KEEP.pattern))
    application.add_handler(CallbackQueryHandler(feedback.expired_button))

    # A staff reply to an escalated question goes to the student (and stops there); other replies are questions.
    application.add_handler(MessageHandler(NEW & filters.REPLY & filters.TEXT & ~filters.COMMAND
                                           & filters.ChatType.PRIVATE,
                                           staff_only(escalation.relay_staff_reply, quiet=True)))
    application.add_handler(MessageHandler(questions.QUESTION, questions.answer_question), group=1)
    application.add_handler(MessageHandler(questions.PHOTO, media.read_photo), group=1)
    application.add_handler(MessageHandler(questions.VOICE, media.read_voice), group=1)
    application.add_handler(MessageHandler(questions.UNREADABLE, questions.cannot_read), group=1)

    application.add_error_handler(handle_error)


async def post_init(application: Application) -> None:
    """Open the knowledge core and the database, load the model, publish the command menus."""
    services: Services = application.bot_data.services
    knowledge = services.knowledge
    if knowledge.client is None:
        await services.blocking(knowledge.open)
        services.owns_knowledge = True
    services.db = Database(knowledge.sessions, services.io)
    await services.reload_admins()  # ADMIN_IDS and those granted with /admin add
    for folder in await services.blocking(materials.clean_staging, services.settings.resolved_materials_dir):
        log.info("removed %s, an upload a crash left unfinished", folder)
    try:  # load the model now, so the first student does not wait for it
        await services.blocking(knowledge.generator.load)
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
    if services.leader:  # hand the scheduled refresh to another worker now, not when the lease expires
        await services.blocking(give_up, services.knowledge.sessions, SCHEDULER_LEASE)
    if services.owns_knowledge:
        await services.blocking(services.knowledge.close)
    services.io.shutdown(wait=False, cancel_futures=True)


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
               # every request paced per chat and overall, and retried after Telegram's flood control (RetryAfter)
               .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
               .post_init(post_init)
               .post_shutdown(post_shutdown))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.bot_data.services = Services.build(settings, knowledge)
    add_handlers(application)
    return application
