"""Questions: a placeholder at once, then what was found, the answer as it is written, the cited answer."""

from __future__ import annotations

import re
from concurrent.futures import Executor
from dataclasses import replace

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatAction, ChatType
from telegram.ext import filters

from knowledge.answer.answerer import AnswerResult, Retrieved
from knowledge.answer.prompt import Exchange
from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable, KnowledgeError, QuestionTooLong

from ..context import CourseContext
from ..formatting import answer_messages, searching_text, streaming_text
from ..keyboards import answer_keyboard
from ..streaming import GROUP_INTERVAL, StreamedReply
from ..tables import save_answer
from .students import HOW_TO_ASK

PLACEHOLDER = "⏳ Un momento, busco en los materiales del curso…"
INTERRUPTED = "⚠️ No pude terminar esta respuesta."


class _AddressedToBot(filters.MessageFilter):
    """In a group: the message (its text or caption) mentions the bot, or replies to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        mentions = [*message.parse_entities([MessageEntity.MENTION]).values(),
                    *message.parse_caption_entities([MessageEntity.MENTION]).values()]
        return any(text.lower() == mention for text in mentions)


ADDRESSED_TO_BOT = _AddressedToBot(name="AddressedToBot")
FOR_US = filters.UpdateType.MESSAGE & (filters.ChatType.PRIVATE | ADDRESSED_TO_BOT)
# What the bot answers: new text messages, and the caption of anything else a student sends (a captioned question
# is a question), in private chats or addressed to it in groups. An admin's captioned upload never gets here.
QUESTION = FOR_US & ((filters.TEXT & ~filters.COMMAND) | filters.CAPTION)
# Photos and voice notes are read (bot/handlers/media.py), with their caption as the question; what the bot cannot
# read (stickers, videos, locations, polls… and a student's document without a caption) gets a short message.
PHOTO = FOR_US & filters.PHOTO
VOICE = FOR_US & (filters.VOICE | filters.AUDIO)
QUESTION = FOR_US & ((filters.TEXT & ~filters.COMMAND) | (filters.CAPTION & ~filters.PHOTO & ~filters.VOICE
                                                           & ~filters.AUDIO))
UNREADABLE = FOR_US & ~filters.TEXT & ~filters.CAPTION & (
    filters.VIDEO | filters.VIDEO_NOTE | filters.ANIMATION | filters.Sticker.ALL | filters.Document.ALL
    | filters.LOCATION | filters.VENUE | filters.POLL | filters.CONTACT | filters.Dice.ALL)
ASKED = QUESTION | UNREADABLE | PHOTO | VOICE  # what counts against a student's rate limit
READS = ("Puedo leer mensajes de texto, fotos (de una diapositiva, la pizarra o un ejercicio; pon tu pregunta como "
         "pie de foto) y notas de voz de hasta {seconds} s.")
CANNOT_READ = {  # what was sent → a friendly first line; READS follows
    "sticker": "😄 ¡Lindo sticker! Pero no sé leerlo.", "animation": "😄 Los GIF no los sé leer.",
    "video": "🎬 Todavía no puedo ver videos.", "video_note": "🎬 Todavía no puedo ver videos.",
    "location": "📍 Recibí una ubicación, pero no me sirve para buscar en el curso.",
    "venue": "📍 Recibí un lugar, pero no me sirve para buscar en el curso.",
    "poll": "📊 No respondo encuestas.", "contact": "👤 Recibí un contacto, pero no me sirve para buscar en el curso.",
    "dice": "🎲 ¡Buena tirada! Pero eso no lo sé leer.",
}
STUDENT_DOCUMENT = ("📄 Solo el equipo docente puede agregar documentos al curso. Si tienes una pregunta sobre "
                    "este archivo, escríbemela como texto (o como pie del archivo).")
TOO_LONG = "✂️ Tu pregunta es demasiado larga para responderla bien: {why} Resúmela en pocas líneas, por favor."


def question_text(text: str, bot_username: str) -> str:
    """The question without the bot's @mention."""
    return re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE).strip()


async def stream_answer(knowledge: Knowledge, question: str, history: list[Exchange],
                        reply: StreamedReply, executor: Executor | None = None) -> AnswerResult:
    """Run the answerer (its blocking steps on `executor`), showing progress in `reply`; returns the final result."""
    header, partial = "", ""
    async for event in knowledge.answerer.astream(question, history, executor=executor):
        if isinstance(event, Retrieved):
            await reply.show(searching_text(event), force=True)  # with the place in the queue, if any
            header = searching_text(replace(event, queue_position=0))  # once words arrive, the wait is over
        elif isinstance(event, str):
            partial += event
            await reply.show(streaming_text(header, partial))
        else:
            return event
    raise GeneratorUnavailable("the answer stream ended without a result")


async def answer_question(update: Update, context: CourseContext) -> None:
    """Answer a student's question from the course materials, with citations."""
    message = update.message
    question = question_text(message.text or message.caption or "", context.bot.username)
    if not question:
        await message.reply_html(HOW_TO_ASK)
        return
    await answer(update, context, question)


async def answer(update: Update, context: CourseContext, question: str) -> None:
    """Answer `question` (typed, or read from a photo or a voice note) in reply to the update's message."""
    message, user, chat = update.message, update.effective_user, update.effective_chat
    services = context.services
    try:  # before anything is shown or remembered: a question too long to answer never enters the history
        await services.blocking(context.knowledge.answerer.check_question, question)
    except QuestionTooLong as e:
        await message.reply_text(TOO_LONG.format(why=e))
        return
    placeholder = await message.reply_text(PLACEHOLDER)
    await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    interval = services.settings.edit_interval
    reply = StreamedReply(placeholder, interval if chat.type == ChatType.PRIVATE else max(interval, GROUP_INTERVAL))
    conversations = services.conversations
    try:
        history = await services.blocking(conversations.history, chat.id, user.id)
        result = await stream_answer(context.knowledge, question, history, reply, services.io)
    except KnowledgeError:
        await reply.show(INTERRUPTED, force=True)
        raise  # the error handler logs it and apologizes
    answer_id = await context.db.run(
        save_answer, user_id=user.id, chat_id=chat.id, question_message_id=message.message_id,
        answer_message_id=placeholder.message_id, question=question, answer=result.answer,
        citations=result.citations, abstained=result.abstained, reason=result.reason, timings=result.timings)
    messages = answer_messages(result)
    markup = answer_keyboard(answer_id, bool(result.citations))
    await reply.finish(messages[0], markup if len(messages) == 1 else None)
    for i, text in enumerate(messages[1:], start=2):
        await message.reply_html(text, reply_markup=markup if i == len(messages) else None)
    if not result.abstained:  # a declined answer would only teach the model to decline again
        await services.blocking(conversations.add, chat.id, user.id, result.exchange)


def cannot_read_text(message: Message, voice_seconds: float) -> str:
    """What the bot says to something it cannot read: a line about what it got, then what it reads."""
    if message.document is not None and message.animation is None:
        return STUDENT_DOCUMENT
    got = next((line for kind, line in CANNOT_READ.items() if getattr(message, kind, None) is not None),
               "🙂 Eso no lo sé leer.")
    return f"{got} {READS.format(seconds=f'{voice_seconds:g}')}"


async def cannot_read(update: Update, context: CourseContext) -> None:
    """A sticker, video, location, poll, a student's document… without a caption: say what the bot can read."""
    await update.message.reply_text(cannot_read_text(update.message, context.services.settings.voice_max_seconds))
