"""The gate every update passes first (group -1): keep admin actions to admins, rate-limit questions, record
new users. Refusing raises `ApplicationHandlerStop`, so no other handler sees the update; the checks come
before any I/O, so a failure elsewhere in the gate can never let a refused update through."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, filters

from ..context import CourseContext
from ..keyboards import ADMIN_ACTIONS, parse
from ..models import record_user
from ..settings import BotSettings
from .admin import ADMIN_COMMAND_NAMES
from .questions import QUESTION

log = logging.getLogger(__name__)

REFUSED = "⛔ Eso es solo para el equipo docente."
# A new document in a private chat (an edited one is not a new upload).
UPLOAD = filters.UpdateType.MESSAGE & filters.Document.ALL & filters.ChatType.PRIVATE


def admin_action(update: Update, bot_username: str) -> str | None:
    """What admin-only thing this update attempts, if any: '/borrar', 'upload', 'button del'."""
    # PTB's CommandHandler also runs commands from edited messages: a message edited into `/admin add ID` is an
    # attempt too.
    message = update.message or update.edited_message
    if message is not None:
        if UPLOAD.check_update(update):
            return "upload"
        if message.text and message.text.startswith("/"):
            command, _, target = message.text.split(maxsplit=1)[0][1:].partition("@")
            if command.lower() in ADMIN_COMMAND_NAMES and target.lower() in ("", bot_username.lower()):
                return "/" + command.lower()
    if update.callback_query is not None:
        action, _ = parse(update.callback_query.data)
        if action in ADMIN_ACTIONS:
            return f"button {action}"
    return None


async def check_access(update: Update, context: CourseContext) -> None:
    """Refuse admin actions from non-admins and questions over the rate limit; record new users."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    services = context.services
    if not services.is_admin(user.id):
        attempted = admin_action(update, context.bot.username)
        if attempted:
            log.warning("refused %s from non-admin user %s", attempted, user.id)
            await _tell(update, REFUSED)
            raise ApplicationHandlerStop
        if QUESTION.check_update(update):
            verdict = services.limiter.check(user.id)
            if not verdict.allowed:
                log.info("rate limit (%s) for user %s", verdict.window, user.id)
                await _tell(update, too_many(verdict.window, verdict.retry_after, services.settings))
                raise ApplicationHandlerStop
    if user.id not in services.known_users:
        services.known_users.add(user.id)  # before the await: concurrent updates of a new user write once
        try:
            await context.db.run(record_user, user.id, user.full_name, user.username)
        except SQLAlchemyError as e:  # not worth refusing the user for; tried again on their next update
            services.known_users.discard(user.id)
            log.warning("could not record user %s: %s", user.id, e)


async def _tell(update: Update, text: str) -> None:
    """Tell the user why they are refused; the refusal stands even if this message fails."""
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        else:
            await update.effective_message.reply_text(text)
    except TelegramError as e:
        log.warning("could not send the refusal: %s", e)


def too_many(window: str, retry_after: float, settings: BotSettings) -> str:
    if window == "minute":
        return (f"🐢 Vas muy rápido: puedo responder hasta {settings.rate_per_minute} preguntas por minuto. "
                f"Prueba de nuevo en {max(1, round(retry_after))} s.")
    hours = max(1, round(retry_after / 3600))
    return (f"📅 Llegaste al máximo de {settings.rate_per_day} preguntas por día. "
            f"Podrás preguntar de nuevo en unas {hours} h. Mientras tanto, /fuentes muestra los materiales.")
