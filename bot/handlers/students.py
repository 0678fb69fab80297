"""Commands every student has: /start, /help, /fuentes, /nuevo."""

from __future__ import annotations

from telegram import BotCommand, Update

from ..context import CourseContext
from ..formatting import escape, pack

STUDENT_COMMANDS = [
    BotCommand("start", "Presentación del asistente"),
    BotCommand("help", "Cómo hacer preguntas"),
    BotCommand("fuentes", "Documentos del curso que consulto"),
    BotCommand("nuevo", "Empezar una conversación nueva"),
]

HOW_TO_ASK = (
    "Escríbeme tu pregunta sobre el curso con tus palabras, por ejemplo: "
    "<i>¿Cuánto vale el proyecto final?</i>\n"
    "Respondo solo con los materiales del curso y cito las fuentes así: [1], [2]. "
    "Debajo de cada respuesta puedes votar 👍/👎, ver el pasaje citado o pasarle la pregunta al equipo docente.\n"
    "Puedes hacer preguntas de seguimiento; con /nuevo empiezo de cero.\n"
    "En un grupo, mencióname o responde a uno de mis mensajes."
)


async def start(update: Update, context: CourseContext) -> None:
    """Introduce the bot: the course, how many documents it knows, how to ask."""
    counts = await context.services.blocking(context.knowledge.store.chunk_counts)
    name = update.effective_user.first_name if update.effective_user else ""
    course = escape(context.services.settings.course_name)
    await update.effective_message.reply_html(
        f"¡Hola, {escape(name)}! 👋 Soy el asistente del curso <b>{course}</b>.\n"
        f"Tengo {len(counts)} {'documento indexado' if len(counts) == 1 else 'documentos indexados'} "
        f"(/fuentes para verlos).\n\n{HOW_TO_ASK}")


async def help_command(update: Update, context: CourseContext) -> None:
    """Explain how to ask."""
    await update.effective_message.reply_html(HOW_TO_ASK)


async def list_sources(update: Update, context: CourseContext) -> None:
    """List the indexed documents."""
    counts = await context.services.blocking(context.knowledge.store.chunk_counts)
    if not counts:
        await update.effective_message.reply_text("Todavía no hay documentos indexados.")
        return
    lines = [f"• {escape(name)}" for name in sorted(counts)]
    for text in pack([f"📚 <b>Documentos del curso</b> ({len(counts)}):", *lines], sep="\n"):
        await update.effective_message.reply_html(text)


async def new_conversation(update: Update, context: CourseContext) -> None:
    """Forget the conversation so far (follow-ups start over)."""
    services = context.services
    await services.blocking(services.conversations.forget, update.effective_chat.id, update.effective_user.id)
    await update.effective_message.reply_text("🧹 Listo, empezamos una conversación nueva.")

