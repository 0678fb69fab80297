"""The gate every update passes first (group -1): record the user, keep admin actions to admins, rate-limit
questions. Refusing raises `ApplicationHandlerStop`, so no other handler sees the update."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop, filters

from ..context import CourseContext
from ..keyboards import ADMIN_ACTIONS, parse
from ..models import record_user
from .admin import ADMIN_COMMAND_NAMES
from .questions import QUESTION

log = logging.getLogger(__name__)

REFUSED = "⛔ Eso es solo para el equipo docente."
UPLOAD = filters.Document.ALL & filters.ChatType.PRIVATE


def admin_action(update: Update, bot_username: str) -> str | None:
    """What admin-only thing this update attempts, if any: '/borrar', 'upload', 'button del'."""
    message = update.message
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
    """Record the user; refuse admin actions from non-admins and questions over the rate limit."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    services = context.services
    if user.id not in services.known_users:
        await context.db.run(record_user, user.id, user.full_name, user.username)
        services.known_users.add(user.id)
    if services.is_admin(user.id):
        return
    attempted = admin_action(update, context.bot.username)
    if attempted:
        log.warning("refused %s from non-admin user %s", attempted, user.id)
        if update.callback_query is not None:
            await update.callback_query.answer(REFUSED, show_alert=True)
        else:
            await update.effective_message.reply_text(REFUSED)
        raise ApplicationHandlerStop
    if QUESTION.check_update(update):
        verdict = services.limiter.check(user.id)
        if not verdict.allowed:
            log.info("rate limit (%s) for user %s", verdict.window, user.id)
            await update.effective_message.reply_text(too_many(verdict.window, verdict.retry_after,
                                                               services.settings))
            raise ApplicationHandlerStop


def too_many(window: str, retry_after: float, settings) -> str:
    if window == "minute":
        return (f"🐢 Vas muy rápido: puedo responder hasta {settings.rate_per_minute} preguntas por minuto. "
                f"Prueba de nuevo en {max(1, round(retry_after))} s.")
    hours = max(1, round(retry_after / 3600))
    return (f"📅 Llegaste al máximo de {settings.rate_per_day} preguntas por día. "
            f"Podrás preguntar de nuevo en unas {hours} h. Mientras tanto, /fuentes muestra los materiales.")
