"""An admin sends a document: download it within the limits, check it, store it, index it, report."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from knowledge.errors import FileTooLarge, KnowledgeError
from knowledge.ingest.filetypes import kind_for_name, sanitize_filename

from .. import materials
from ..context import CourseContext

log = logging.getLogger(__name__)


def _mb(n: int) -> str:
    return f"{n / 1048576:.1f} MB"


async def receive_document(update: Update, context: CourseContext) -> None:
    """Store an uploaded course document in the materials folder and index it; failures leave nothing.
    Its caption is not a question: no later handler sees the update."""
    await _install_upload(update, context)
    raise ApplicationHandlerStop


async def _install_upload(update: Update, context: CourseContext) -> None:
    document = update.message.document
    settings = context.services.settings
    limit = settings.max_upload_bytes
    try:
        name = sanitize_filename(document.file_name or "documento")
        kind_for_name(name)
        if document.file_size and document.file_size > limit:
            raise FileTooLarge(f"{name}: pesa {_mb(document.file_size)} y el máximo es {_mb(limit)}")
    except KnowledgeError as e:
        await update.message.reply_text(f"❌ No lo agregué: {e}")
        return
    status = await update.message.reply_text(f"📥 Recibí «{name}». Descargando…")
    materials_dir = settings.resolved_materials_dir
    blocking = context.services.blocking
    staged = await blocking(materials.staging_path, materials_dir, name)
    try:
        try:
            telegram_file = await context.bot.get_file(document.file_id)
        except BadRequest as e:  # Telegram refuses downloads over 20 MB to bots
            raise FileTooLarge(f"{name}: Telegram no me dejó descargarlo ({e.message})") from e
        await telegram_file.download_to_drive(staged)
        await status.edit_text(f"🔍 Revisando «{name}»…")
        async with context.services.indexing:
            duplicate = await blocking(materials.check, context.knowledge, staged, limit)
            if duplicate is not None:
                await status.edit_text(f"ℹ️ Ya tengo este archivo: es idéntico a «{duplicate.doc_id}» "
                                       f"({duplicate.chunks} fragmentos). No cambié nada.")
                return
            await status.edit_text(f"⚙️ Indexando «{name}»… (puede tardar un poco)")
            installed = await blocking(materials.install, context.knowledge, staged, materials_dir)
    except KnowledgeError as e:
        log.warning("upload of %s by %s refused: %s", name, update.effective_user.id, e)
        await status.edit_text(f"❌ No pude agregar «{name}»: {e}\nNo se guardó nada.")
        return
    finally:
        await blocking(materials.discard, staged)
    verb = "actualizado" if installed.status == "changed" else "agregado"
    log.info("admin %s uploaded %s (%s, %d chunks)", update.effective_user.id, installed.doc_id,
             installed.status, installed.chunks)
    skipped = (f"\n⚠️ No pude leer (escaneadas, ilegibles) las págs. {', '.join(map(str, installed.unreadable))}: "
               "quedaron fuera del índice." if installed.unreadable else "")
    await status.edit_text(f"✅ «{installed.doc_id}» {verb}: {installed.chunks} fragmentos indexados. "
                           f"Ya pueden preguntar sobre él.{skipped}")
