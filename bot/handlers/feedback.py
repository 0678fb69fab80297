"""The buttons under an answer: 👍/👎 and "Ver fuente" (the cited passages, then the documents)."""

from __future__ import annotations

from telegram import CallbackQuery, Update
from telegram.constants import ChatAction, ParseMode

from ..context import CourseContext
from ..formatting import passages_messages
from ..keyboards import Action, documents_keyboard, parse
from ..materials import document_path
from ..tables import Answer, get_answer, set_feedback

GONE = "Esa respuesta ya no está disponible."


async def _answer_of(query: CallbackQuery, context: CourseContext) -> tuple[Answer | None, list[int]]:
    """The stored answer a button refers to (and the button's other numbers; the gate checked their shape)."""
    _, args = parse(query.data)
    numbers = [int(a) for a in args]
    row = await context.db.run(get_answer, numbers[0])
    if row is None:
        await query.answer(GONE, show_alert=True)
    return row, numbers[1:]


async def vote(update: Update, context: CourseContext) -> None:
    """Store a 👍 or 👎 for an answer."""
    query = update.callback_query
    row, _ = await _answer_of(query, context)
    if row is None:
        return
    action, _ = parse(query.data)
    value = 1 if action is Action.LIKE else -1
    await context.db.run(set_feedback, row.id, query.from_user.id, value)
    await query.answer("¡Gracias! 👍" if value > 0 else "Gracias por avisar: el equipo revisará esta respuesta.")


async def show_sources(update: Update, context: CourseContext) -> None:
    """Send the passages an answer cites, and offer the cited documents that are in the materials folder."""
    query = update.callback_query
    row, _ = await _answer_of(query, context)
    if row is None:
        return
    await query.answer()
    if not row.citations:
        await context.bot.send_message(update.effective_chat.id, "Esta respuesta no cita ninguna fuente.")
        return
    materials = context.services.settings.resolved_materials_dir
    files: dict[str, int] = {}
    for c in row.citations:
        if c["file"] not in files and document_path(materials, c["file"]) is not None:
            files[c["file"]] = c["n"]
    messages = passages_messages(row.citations)
    markup = documents_keyboard(row.id, [(n, name.rsplit("/", 1)[-1]) for name, n in files.items()])
    for i, text in enumerate(messages, start=1):
        last = i == len(messages)
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML,
                                       reply_markup=markup if last and files else None)


async def send_document(update: Update, context: CourseContext) -> None:
    """Send a cited document from the materials folder."""
    query = update.callback_query
    row, numbers = await _answer_of(query, context)
    if row is None:
        return
    citation = next((c for c in row.citations if numbers and c["n"] == numbers[0]), None)
    materials = context.services.settings.resolved_materials_dir
    path = document_path(materials, citation["file"]) if citation else None
    if path is None:
        await query.answer("Ese documento ya no está disponible.", show_alert=True)
        return
    await query.answer()
    chat_id = update.effective_chat.id
    await context.bot.send_chat_action(chat_id, ChatAction.UPLOAD_DOCUMENT)
    with path.open("rb") as document:
        await context.bot.send_document(chat_id, document, filename=path.name,
                                        caption=(citation.get("label") or path.name)[:1024])


async def expired_button(update: Update, context: CourseContext) -> None:
    """A button no handler knows (an old keyboard): stop the client's spinner and say so."""
    await update.callback_query.answer("Este botón ya no funciona.", show_alert=True)
