"""Staff commands: /documentos, /borrar, /reindexar, /stats, /pendientes, /admin.

bot/app.py wires every handler here through `access.staff_only`, which refuses anyone but a current admin.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden

from knowledge.errors import KnowledgeError, RefreshBusy
from knowledge.ingest.indexer import ChangeReport
from knowledge.registry import Source, list_sources

from .. import materials
from ..context import CourseContext
from ..formatting import clip, escape, pack
from ..keyboards import confirm_delete_keyboard, parse
from ..tables import ADMIN, STUDENT, Gap, Stats, knowledge_gaps, set_role, stats
from .students import STUDENT_COMMANDS

log = logging.getLogger(__name__)

ADMIN_COMMANDS = [
    BotCommand("documentos", "Documentos indexados"),
    BotCommand("borrar", "Borrar un documento: /borrar NOMBRE"),
    BotCommand("reindexar", "Reindexar la carpeta de materiales"),
    BotCommand("stats", "Uso, abstenciones y votos"),
    BotCommand("pendientes", "Preguntas sin buena respuesta"),
    BotCommand("admin", "Admins: /admin add ID, /admin remove ID"),
]
ADMIN_COMMAND_NAMES = {c.command for c in ADMIN_COMMANDS}


async def set_admin_commands(bot: Bot, admin_id: int) -> None:
    """Show the staff commands in the menu of an admin's private chat."""
    try:
        await bot.set_my_commands(STUDENT_COMMANDS + ADMIN_COMMANDS, scope=BotCommandScopeChat(admin_id))
    except (BadRequest, Forbidden) as e:  # an admin who has not opened a chat with the bot yet
        log.warning("could not set the admin commands for %s: %s", admin_id, e)


async def _reply(update: Update, blocks: list[str], sep: str = "\n") -> None:
    for text in pack(blocks, sep=sep):
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)


# -- documents ----------------------------------------------------------------------------------------
def documents_lines(sources: list[Source]) -> list[str]:
    lines = [f"📚 <b>Documentos</b> ({sum(s.indexed for s in sources)} indexados)"]
    for src in sources:
        if src.indexed:
            date = src.indexed_at.strftime("%Y-%m-%d %H:%M") if src.indexed_at else "?"
            lines.append(f"• <code>{escape(clip(src.doc_id))}</code> — {src.chunk_count} fragmentos — {date}")
        if src.error:
            lines.append(f"⚠️ <code>{escape(clip(src.doc_id))}</code> — error: {escape(clip(src.error))}")
    return lines


async def list_documents(update: Update, context: CourseContext) -> None:
    """The indexed documents with chunk counts and dates (and the last error of those that failed)."""
    def read() -> list[Source]:
        with context.knowledge.sessions() as s:
            return list_sources(s, context.knowledge.collection_name)

    sources = await context.services.blocking(read)
    if not sources:
        await update.effective_message.reply_text("No hay documentos indexados. Envíame un archivo para agregarlo.")
        return
    await _reply(update, documents_lines(sources))


async def ask_delete(update: Update, context: CourseContext) -> None:
    """/borrar NOMBRE: find the document and ask for confirmation."""
    name = " ".join(context.args or []).strip()
    if not name:
        await update.effective_message.reply_text("Uso: /borrar NOMBRE (el nombre que muestra /documentos).")
        return
    found = [src for src in await context.services.blocking(materials.find_source, context.knowledge, name)
             if src.indexed]
    if len(found) != 1:
        text = (f"No encontré «{clip(name)}». Mira los nombres con /documentos." if not found else
                "Hay varios documentos con ese nombre; usa el nombre completo:\n"
                + "\n".join(f"• {clip(src.doc_id)}" for src in found[:20]))
        await update.effective_message.reply_text(text)
        return
    src = found[0]
    await update.effective_message.reply_html(
        f"¿Borro <code>{escape(clip(src.doc_id))}</code> ({src.chunk_count} fragmentos) del índice"
        " y de la carpeta de materiales?", reply_markup=confirm_delete_keyboard(materials.source_key(src)))


async def confirm_delete(update: Update, context: CourseContext) -> None:
    """The confirm button: remove the document it was made for from the index and the materials folder — only
    if that very version is still the one indexed (the button names it by `materials.source_key`)."""
    query = update.callback_query
    _, (key,) = parse(query.data)
    src = await context.services.blocking(materials.find_by_key, context.knowledge, key)
    if src is None:
        await query.answer("Ese documento ya no está o cambió desde entonces: búscalo de nuevo con /borrar.",
                           show_alert=True)
        return
    await query.answer()
    materials_dir = context.services.settings.resolved_materials_dir
    async with context.services.indexing:
        chunks, file_deleted = await context.services.blocking(materials.remove, context.knowledge, src,
                                                               materials_dir)
    where = "del índice y de la carpeta de materiales" if file_deleted else "del índice"
    log.info("admin %s deleted %s (%d chunks)", query.from_user.id, src.doc_id, chunks)
    await query.edit_message_text(f"🗑️ Borré <code>{escape(clip(src.doc_id))}</code> {where} ({chunks} fragmentos).",
                                  parse_mode=ParseMode.HTML)


async def cancel_delete(update: Update, context: CourseContext) -> None:
    """The cancel button."""
    await update.callback_query.answer()
    await update.callback_query.edit_message_text("Cancelado: no borré nada.")


def report_lines(report: ChangeReport) -> list[str]:
    failed = report.failed + report.still_failing
    lines = [f"🔄 <b>Reindexado</b> en {report.seconds:.1f} s: {len(report.added)} nuevos, "
             f"{len(report.changed)} cambiados, {len(report.removed)} quitados, {len(report.unchanged)} sin cambios, "
             f"{len(failed)} con error; {report.chunks_written} fragmentos escritos."]
    for label, names in (("➕", report.added), ("✏️", report.changed), ("➖", report.removed)):
        lines += [f"{label} <code>{escape(clip(name))}</code>" for name in names]
    lines += [f"⚠️ <code>{escape(clip(f['file']))}</code>: {escape(clip(f['error'] or ''))}" for f in failed]
    return lines


async def reindex(update: Update, context: CourseContext) -> None:
    """Bring the index in line with the materials folder (runs in a thread; others keep being served)."""
    status = await update.effective_message.reply_text("⏳ Reindexando la carpeta de materiales…")
    try:
        async with context.services.indexing:
            outcome = await context.services.blocking(materials.refresh, context.knowledge, context.services.settings)
    except RefreshBusy:
        await status.edit_text("⏳ Ya hay una actualización del índice en curso; inténtalo en unos minutos.")
        return
    except (KnowledgeError, SQLAlchemyError, OSError) as e:  # the status message must not stay on "⏳" forever
        log.error("reindex failed: %s", e)
        await status.edit_text(f"❌ No pude reindexar: {clip(str(e))}\nEl índice quedó como estaba; "
                               "inténtalo de nuevo en unos minutos.")
        return
    lines = report_lines(outcome.report)
    if outcome.regression and outcome.regression.alert:
        g = outcome.regression
        lines.append(f"📉 La recuperación empeoró en el conjunto de control: hit@5 {g.hit_at_5_before:.2f} → "
                     f"{g.hit_at_5_after:.2f}")
    blocks = pack(lines, sep="\n")
    await status.edit_text(blocks[0], parse_mode=ParseMode.HTML)
    for text in blocks[1:]:
        await update.effective_message.reply_html(text)


# -- reports ------------------------------------------------------------------------------------------
def stats_lines(st: Stats, model: str, documents: int) -> list[str]:
    return ["📊 <b>Estadísticas</b>",
            f"Usuarios: {st.users}",
            f"Preguntas: {st.questions}",
            f"Sin respuesta (abstenciones): {st.abstained} ({st.abstention_rate:.0%})",
            f"Votos: 👍 {st.thumbs_up} · 👎 {st.thumbs_down}",
            f"Preguntas pasadas al equipo: {st.escalations}",
            f"Documentos indexados: {documents}",
            f"Modelo activo: <code>{escape(model)}</code>"]


async def show_stats(update: Update, context: CourseContext) -> None:
    """Users, questions, abstention rate, votes and the active model."""
    st = await context.db.run(stats)
    counts = await context.services.blocking(context.knowledge.store.chunk_counts)
    await _reply(update, stats_lines(st, context.knowledge.generator.name, len(counts)))


def gaps_lines(gaps: list[Gap]) -> list[str]:
    lines = ["📝 <b>Pendientes</b>: preguntas sin respuesta o con 👎, las más frecuentes primero"]
    for g in gaps:
        why = ", ".join(p for p in (f"{g.declined} sin respuesta" if g.declined else "",
                                    f"{g.disliked} 👎" if g.disliked else "") if p)
        lines.append(f"• ({g.count}×) {escape(clip(g.question))} — {why}")
    return lines


async def show_gaps(update: Update, context: CourseContext) -> None:
    """The knowledge-gap queue."""
    gaps = await context.db.run(knowledge_gaps)
    if not gaps:
        await update.effective_message.reply_text("✨ No hay preguntas pendientes.")
        return
    await _reply(update, gaps_lines(gaps))


async def manage_admins(update: Update, context: CourseContext) -> None:
    """/admin add ID, /admin remove ID: grant or revoke the staff role (ADMIN_IDS are set in the configuration)."""
    args = context.args or []
    services = context.services
    if len(args) != 2 or args[0].lower() not in ("add", "remove") or not args[1].isdigit():
        admins = ", ".join(str(i) for i in sorted(services.admins))
        await update.effective_message.reply_text(f"Uso: /admin add ID o /admin remove ID\nAdmins actuales: {admins}")
        return
    action, user_id = args[0].lower(), int(args[1])
    if action == "remove" and user_id in services.settings.admin_ids:
        await update.effective_message.reply_text(f"{user_id} está en ADMIN_IDS: quítalo de la configuración.")
        return
    await context.db.run(set_role, user_id, ADMIN if action == "add" else STUDENT)
    await services.reload_admins()
    if action == "add":
        await set_admin_commands(context.bot, user_id)
    else:
        await context.bot.delete_my_commands(scope=BotCommandScopeChat(user_id))
    log.info("admin %s: %s %s", update.effective_user.id, action, user_id)
    await update.effective_message.reply_text(f"✅ {user_id} ahora es admin." if action == "add"
                                              else f"✅ {user_id} ya no es admin.")
