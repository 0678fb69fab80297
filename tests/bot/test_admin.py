"""bot/handlers/admin.py: the staff commands, on a real index; refused to students (see also test_app.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.tables import ADMIN as ADMIN_ROLE
from bot.tables import User
from tests.bot.test_app import ADMIN, STUDENT, Harness, buttons, play

pytestmark = pytest.mark.timeout(180)

NEW_ADMIN = 4000


def test_documentos_lists_documents_with_chunks_and_dates(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(ADMIN, "/documentos")
        lines = h.texts(ADMIN)[-1].splitlines()
        assert lines[0] == "📚 Documentos (1 indexados)"
        assert lines[1].startswith("• programa.md — 3 fragmentos — 20")

    play(settings, kb, scenario)


def test_reindexar_runs_in_a_thread_and_borrar_asks_first(course):
    settings, kb = course
    extra = settings.resolved_materials_dir / "extra.md"
    extra.write_text("# Extra\n\n" + "\n\n".join(f"## Tema {i}\n" + f"Contenido del tema {i}. " * 40
                                                 for i in range(5)))

    async def scenario(h: Harness) -> None:
        await asyncio.gather(h.send_text(ADMIN, "/reindexar"), h.send_text(STUDENT, "/help"))
        report = h.last(ADMIN)
        assert report["history"][0]["text"] == "⏳ Reindexando la carpeta de materiales…"
        assert report["text"].startswith("🔄 Reindexado en ")
        assert "1 nuevos, 0 cambiados, 0 quitados, 1 sin cambios, 0 con error" in report["text"]
        assert "➕ extra.md" in report["text"]
        methods = h.request.methods()
        help_sent = max(i for i, (m, p) in enumerate(h.request.calls) if m == "sendMessage" and p["chat_id"] == STUDENT)
        assert help_sent < len(methods) - 1 - methods[::-1].index("editMessageText")  # before the report
        assert "extra.md" in kb.store.chunk_counts()

        await h.send_text(ADMIN, "/borrar extra")
        confirm = h.last(ADMIN)
        assert confirm["text"].startswith("¿Borro extra.md (")
        await h.press(STUDENT, confirm["message_id"], buttons(confirm)["🗑️ Sí, borrar"], chat_id=ADMIN)
        assert h.alerts() == ["⛔ Eso es solo para el equipo docente."]
        await h.press(ADMIN, confirm["message_id"], buttons(confirm)["Cancelar"])
        assert h.last(ADMIN)["text"] == "Cancelado: no borré nada."
        assert extra.exists() and "extra.md" in kb.store.chunk_counts()

        await h.send_text(ADMIN, "/borrar extra.md")
        confirm = h.last(ADMIN)
        await h.press(ADMIN, confirm["message_id"], buttons(confirm)["🗑️ Sí, borrar"])
        assert h.last(ADMIN)["text"].startswith("🗑️ Borré extra.md del índice y de la carpeta de materiales (")
        assert not extra.exists() and "extra.md" not in kb.store.chunk_counts()
        assert h.last(ADMIN)["reply_markup"] is None  # the buttons are gone with the confirmation

        await h.send_text(ADMIN, "/borrar nada.md")
        assert h.texts(ADMIN)[-1] == "No encontré «nada.md». Mira los nombres con /documentos."
        await h.send_text(ADMIN, "/borrar")
        assert h.texts(ADMIN)[-1].startswith("Uso: /borrar NOMBRE")

    play(settings, kb, scenario)


def test_stats_and_pendientes(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(ADMIN, "/pendientes")
        assert h.texts(ADMIN)[-1] == "✨ No hay preguntas pendientes."
        await h.send_text(STUDENT, "¿Cuánto vale el proyecto final?")
        await h.send_text(ADMIN, "/stats")
        stats = h.texts(ADMIN)[-1].splitlines()
        assert stats[0] == "📊 Estadísticas"
        assert "Preguntas: 1" in stats and "Votos: 👍 0 · 👎 0" in stats
        assert "Documentos indexados: 1" in stats
        assert stats[-1] == "Modelo activo: smollm2-135m-instruct-q4_1.gguf"
        assert any(line.startswith("Usuarios: ") for line in stats)

    play(settings, kb, scenario)


def test_admin_add_and_remove_last_across_restarts_and_admin_ids_follow_the_configuration(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        h.emu.add_chat(NEW_ADMIN)
        await h.send_text(NEW_ADMIN, "/stats")
        assert h.texts(NEW_ADMIN)[-1] == "⛔ Eso es solo para el equipo docente."
        await h.send_text(ADMIN, f"/admin add {NEW_ADMIN}")
        assert h.texts(ADMIN)[-1] == f"✅ {NEW_ADMIN} ahora es admin."
        assert "documentos" in [c["command"] for c in h.emu.commands({"type": "chat", "chat_id": NEW_ADMIN})]
        await h.send_text(NEW_ADMIN, "/stats")
        assert h.texts(NEW_ADMIN)[-1].startswith("📊 Estadísticas")
        await h.send_text(ADMIN, "/admin promote 5")
        assert h.texts(ADMIN)[-1].startswith("Uso: /admin add ID o /admin remove ID\nAdmins actuales: 1000, 4000")
        await h.send_text(ADMIN, f"/admin remove {ADMIN}")
        assert h.texts(ADMIN)[-1] == f"{ADMIN} está en ADMIN_IDS: quítalo de la configuración."

    play(settings, kb, scenario)
    with kb.sessions() as s:
        assert s.get(User, NEW_ADMIN).role == ADMIN_ROLE

    async def after_restart(h: Harness) -> None:
        assert h.services.admins == {ADMIN, NEW_ADMIN}
        h.emu.add_chat(NEW_ADMIN)
        await h.send_text(ADMIN, f"/admin remove {NEW_ADMIN}")
        assert h.texts(ADMIN)[-1] == f"✅ {NEW_ADMIN} ya no es admin."
        assert h.emu.commands({"type": "chat", "chat_id": NEW_ADMIN}) == []
        await h.send_text(NEW_ADMIN, "/stats")
        assert h.texts(NEW_ADMIN)[-1] == "⛔ Eso es solo para el equipo docente."

    play(settings, kb, after_restart)

    async def configuration_only(h: Harness) -> None:
        """ADMIN_IDS are admins by configuration: dropping one from it revokes the role at the next start."""
        assert h.services.admins == {NEW_ADMIN - 1}  # ADMIN was an admin only through ADMIN_IDS

    play(settings.model_copy(update={"admin_ids": [NEW_ADMIN - 1]}), kb, configuration_only)


def test_an_old_delete_button_never_deletes_another_version_or_document(course):
    """The confirmation names the source by a digest of its path and version, not by its row id: once the document
    changed (or its row went to another document), the old button deletes nothing."""
    settings, kb = course
    notes = settings.resolved_materials_dir / "avisos.md"
    notes.write_text("# Avisos\n\nLa clase del lunes se dicta en el aula 204.\n")
    kb.indexer.refresh(settings.resolved_materials_dir)

    async def scenario(h: Harness) -> None:
        await h.send_text(ADMIN, "/borrar avisos.md")
        stale = h.last(ADMIN)
        notes.write_text("# Avisos\n\nLa clase del lunes se dicta en el aula 305.\n")  # a new version
        kb.indexer.refresh(settings.resolved_materials_dir)
        await h.press(ADMIN, stale["message_id"], buttons(stale)["🗑️ Sí, borrar"])
        assert h.alerts()[-1].startswith("Ese documento ya no está o cambió")
        assert "avisos.md" in kb.store.chunk_counts() and notes.exists()
        await h.send_text(ADMIN, "/borrar avisos.md")
        fresh = h.last(ADMIN)
        assert buttons(fresh)["🗑️ Sí, borrar"] != buttons(stale)["🗑️ Sí, borrar"]
        await h.press(ADMIN, fresh["message_id"], buttons(fresh)["🗑️ Sí, borrar"])
        assert h.last(ADMIN)["text"].startswith("🗑️ Borré avisos.md")
        assert "avisos.md" not in kb.store.chunk_counts()

    play(settings, kb, scenario)


def test_no_admin_report_outgrows_a_telegram_message(course):
    """Regression: a 4,000-character question in /pendientes made a line longer than Telegram's 4,096 limit."""
    settings, kb = course
    from bot.tables import save_answer

    long_question = "¿" + "por qué " * 500 + "?"
    with kb.sessions.begin() as s:
        for n in range(3):
            save_answer(s, user_id=STUDENT, chat_id=STUDENT, question_message_id=900 + n, answer_message_id=None,
                        question=f"{long_question} {n}", answer="", citations=[], abstained=True,
                        reason="unsupported", timings={})

    async def scenario(h: Harness) -> None:
        sent = len(h.emu.bot_messages(ADMIN))
        await h.send_text(ADMIN, "/pendientes")
        replies = h.emu.bot_messages(ADMIN)[sent:]
        assert replies and replies[0]["text"].startswith("📝 Pendientes")
        assert all(len(m["text"]) <= 4096 for m in replies)
        assert sum(m["text"].count("(1×)") for m in replies) == 3

    play(settings, kb, scenario)
