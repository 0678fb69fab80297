"""Questions: a placeholder at once, then what was found, the answer as it is written, the cited answer."""

from __future__ import annotations

import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatAction
from telegram.ext import filters

from knowledge.answer import AnswerResult, Retrieved
from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable, KnowledgeError

from ..context import CourseContext
from ..formatting import answer_messages, searching_text, streaming_text
from ..keyboards import answer_keyboard
from ..models import save_answer
from ..streaming import StreamedReply
from .students import HOW_TO_ASK

PLACEHOLDER = "⏳ Un momento, busco en los materiales del curso…"
INTERRUPTED = "⚠️ No pude terminar esta respuesta."


class _AddressedToBot(filters.MessageFilter):
    """In a group: the message mentions the bot or replies to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        return any(text.lower() == mention for text in message.parse_entities([MessageEntity.MENTION]).values())


ADDRESSED_TO_BOT = _AddressedToBot(name="AddressedToBot")
# What the bot answers: new text messages, in private chats or addressed to it in groups.
QUESTION = (filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND
            & (filters.ChatType.PRIVATE | ADDRESSED_TO_BOT))


def question_text(text: str, bot_username: str) -> str:
    """The question without the bot's @mention."""
    return re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE).strip()


async def stream_answer(knowledge: Knowledge, question: str, history: list[tuple[str, str]],
                        reply: StreamedReply) -> AnswerResult:
    """Run the answerer, showing progress in `reply`; returns the final result."""
    header, partial = "", ""
    async for event in knowledge.answerer.astream(question, history):
        if isinstance(event, Retrieved):
            header = searching_text(event)
            await reply.show(header, force=True)
        elif isinstance(event, str):
            partial += event
            await reply.show(streaming_text(header, partial))
        else:
            return event
    raise GeneratorUnavailable("the answer stream ended without a result")


async def answer_question(update: Update, context: CourseContext) -> None:
    """Answer a student's question from the course materials, with citations."""
    message, user, chat = update.message, update.effective_user, update.effective_chat
    question = question_text(message.text, context.bot.username)
    if not question:
        await message.reply_html(HOW_TO_ASK)
        return
    placeholder = await message.reply_text(PLACEHOLDER)
    await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    reply = StreamedReply(placeholder, context.services.settings.edit_interval)
    conversations = context.services.conversations
    try:
        result = await stream_answer(context.knowledge, question, conversations.history(chat.id, user.id), reply)
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
        conversations.add(chat.id, user.id, question, result.answer)
