"""The one error handler (PTB's errorhandlerbot.py): log first, without secrets, then a short apology."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import TelegramError

from knowledge.errors import GeneratorUnavailable, KnowledgeError, StoreUnavailable

from ..context import CourseContext

log = logging.getLogger(__name__)

APOLOGY = "😔 Lo siento, algo falló al procesar tu mensaje. Inténtalo de nuevo en un momento."
APOLOGIES = {
    StoreUnavailable: "😔 Lo siento, ahora mismo no puedo consultar los materiales del curso. "
                      "Inténtalo de nuevo en unos minutos.",
    GeneratorUnavailable: "😔 Lo siento, ahora mismo no puedo redactar respuestas. "
                          "Inténtalo de nuevo en unos minutos.",
}


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text


def apology_for(error: BaseException | None) -> str:
    return next((text for kind, text in APOLOGIES.items() if isinstance(error, kind)), APOLOGY)


async def handle_error(update: object, context: CourseContext) -> None:
    """Log the error (the bot token redacted) and tell the user, briefly, in Spanish."""
    error = context.error
    secrets = [context.services.settings.telegram_bot_token.get_secret_value(), context.bot.token]
    if isinstance(error, KnowledgeError):  # expected failures (Weaviate down, model failing): no traceback
        log.error("knowledge error: %s: %s", type(error).__name__, redact(str(error), secrets))
    else:
        details = "".join(traceback.format_exception(error)) if error else "no exception"
        log.error("error while handling an update:\n%s", redact(details, secrets))
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(apology_for(error)[:200], show_alert=True)
                return
            except TelegramError:  # already answered by the handler: say it in the chat instead
                pass
        await context.bot.send_message(update.effective_chat.id, apology_for(error))
    except TelegramError as e:
        log.warning("could not send the apology: %s", redact(str(e), secrets))
