""""Preguntar al equipo": the question goes to the staff; a staff reply to it goes back to the student."""

from __future__ import annotations

import logging

from telegram import ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop

from ..context import CourseContext
from ..formatting import escalation_text, pack, plain_blocks, student_name
from ..keyboards import parse
from ..tables import find_escalation, get_answer, mark_answered, save_escalation, was_escalated

log = logging.getLogger(__name__)


async def escalate(update: Update, context: CourseContext) -> None:
    """Send the student's question and the bot's answer to every staff member."""
    query = update.callback_query
    _, (answer_id,) = parse(query.data)
    row = await context.db.run(get_answer, int(answer_id))
    if row is None:
        await query.answer("Esa respuesta ya no está disponible.", show_alert=True)
        return
    if row.user_id != query.from_user.id:
        await query.answer("Solo quien hizo la pregunta puede pasársela al equipo.", show_alert=True)
        return
    if await context.db.run(was_escalated, row.id):
        await query.answer("Ya le pasé esta pregunta al equipo docente.", show_alert=True)
        return
    await query.answer()
    user = query.from_user
    text = escalation_text(student_name(user.full_name, user.username, user.id), row.question, row.answer)
    reached = 0
    async with context.services.escalating:
        for staff_id in sorted(context.services.admins):
            try:
                sent = await context.bot.send_message(staff_id, text, parse_mode=ParseMode.HTML)
            except (Forbidden, BadRequest) as e:  # a staff member who never opened a chat with the bot
                log.warning("could not reach staff member %s: %s", staff_id, e)
                continue
            await context.db.run(save_escalation, answer_id=row.id, student_id=row.user_id,
                                 student_chat_id=row.chat_id, student_message_id=row.question_message_id,
                                 staff_chat_id=staff_id, staff_message_id=sent.message_id)
            reached += 1
    text = ("📨 Le pasé tu pregunta al equipo docente. Te escribiré aquí cuando respondan." if reached else
            "😔 Ahora mismo no pude contactar al equipo docente. Inténtalo más tarde o pregúntales en clase.")
    await context.bot.send_message(update.effective_chat.id, text)


async def relay_staff_reply(update: Update, context: CourseContext) -> None:
    """A staff member's reply to an escalated question reaches the student, as a reply to their question.

    Wired through `staff_only`: a former admin's reply to an old escalation reaches no one."""
    message = update.message
    async with context.services.escalating:
        escalation = await context.db.run(find_escalation, message.chat_id, message.reply_to_message.message_id)
    if escalation is None:
        return  # a reply to something else: the question handler (next group) takes it
    texts = pack(["👩‍🏫 <b>Respuesta del equipo docente:</b>", *plain_blocks(message.text)])
    for i, text in enumerate(texts):
        await context.bot.send_message(
            escalation.student_chat_id, text, parse_mode=ParseMode.HTML,
            reply_parameters=ReplyParameters(escalation.student_message_id, allow_sending_without_reply=True)
            if i == 0 else None)
    await context.db.run(mark_answered, escalation.id)
    await message.reply_text("✅ Respuesta enviada al estudiante.")
    raise ApplicationHandlerStop
