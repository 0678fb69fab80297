"""Who may do what.

- `staff_only(handler)` wraps every admin-only callback (commands, uploads, admin buttons, staff replies) where the
  handlers are wired (bot/app.py): the handler PTB chose to run checks the caller's role itself, against the live
  admin set. PTB's own parse of the update decided which handler runs, so no other reading of the text can let an
  action through. Anonymous senders — an anonymous group admin (GroupAnonymousBot), a post "as a channel"
  (`sender_chat`), a bot, an update without a user — are never admins.
- `check_access`, the gate every update passes first (group -1): button data in an unknown shape is refused before
  any handler runs, questions over the rate limit are refused (anonymous senders count under their chat), and new
  users are recorded. Refusing raises `ApplicationHandlerStop`, so no other handler sees the update.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, filters

from ..context import CourseContext
from ..keyboards import parse
from ..settings import BotSettings
from ..tables import record_user
from .questions import ASKED

log = logging.getLogger(__name__)

REFUSED = "⛔ Eso es solo para el equipo docente."
EXPIRED = "Este botón ya no funciona."
# A new document in a private chat (an edited one is not a new upload).
UPLOAD = filters.UpdateType.MESSAGE & filters.Document.ALL & filters.ChatType.PRIVATE

Handler = Callable[[Update, CourseContext], Awaitable[object]]


def staff_id(update: Update, admins: set[int]) -> int | None:
    """The admin who sent this update, or None: anonymous and channel senders and bots are never admins."""
    user, message = update.effective_user, update.effective_message
    if user is None or user.is_bot or user.id not in admins:
        return None
    if update.callback_query is None and message is not None and message.sender_chat is not None:
        return None  # posted "as" a chat: whoever typed it, the chat is the sender
    return user.id


def sender_key(update: Update) -> int | None:
    """Whom a rate limit counts: the user, or for anonymous senders the chat they post as (or in)."""
    user, message = update.effective_user, update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id
    if user is not None and not user.is_bot:
        return user.id
    return update.effective_chat.id if update.effective_chat is not None else None


def staff_only(handler: Handler, *, quiet: bool = False) -> Handler:
    """`handler` for admins only: anyone else is refused (logged, and told unless `quiet`, which lets a later
    handler group take the update — a student's reply is a question, not a staff reply)."""

    @functools.wraps(handler)
    async def guarded(update: Update, context: CourseContext) -> object:
        if staff_id(update, context.services.admins) is None:
            log.warning("refused %s from non-admin %s", handler.__name__, sender_key(update))
            if not quiet:
                await _tell(update, REFUSED)
            return None
        return await handler(update, context)

    guarded.staff_only = True  # the authorization tests find every admin handler by it
    return guarded


async def check_access(update: Update, context: CourseContext) -> None:
    """Refuse buttons in an unknown shape and questions over the rate limit; record new users."""
    services = context.services
    if update.callback_query is not None and parse(update.callback_query.data) is None:
        log.info("refused button data %r", (update.callback_query.data or "")[:64])
        await _tell(update, EXPIRED)
        raise ApplicationHandlerStop
    await services.reload_admins()  # another worker may have granted or revoked a role since the last update
    key = sender_key(update)
    if key is not None and staff_id(update, services.admins) is None and ASKED.check_update(update):
        verdict = await services.blocking(services.limiter.check, key)
        if not verdict.allowed:
            log.info("rate limit (%s) for %s", verdict.window, key)
            await _tell(update, too_many(verdict.window, verdict.retry_after, services.settings))
            raise ApplicationHandlerStop
    user = update.effective_user
    if user is not None and not user.is_bot and user.id not in services.known_users:
        services.known_users.add(user.id)  # before the await: concurrent updates of a new user write once
        try:
            await context.db.run(record_user, user.id, user.full_name, user.username)
        except SQLAlchemyError as e:  # not worth refusing the user for; tried again on their next update
            services.known_users.discard(user.id)
            log.warning("could not record user %s: %s", user.id, e)


async def _tell(update: Update, text: str) -> None:
    """Tell the sender why they are refused; the refusal stands even if this message fails."""
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(text, show_alert=True)
        elif update.effective_message is not None:
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
