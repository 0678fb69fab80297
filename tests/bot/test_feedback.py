"""bot/handlers/feedback.py: 👍/👎 are stored, "Ver fuente" shows the cited passages and sends the document."""

from __future__ import annotations

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.tables import Feedback, knowledge_gaps
from tests.bot.test_app import ADMIN, OTHER, STUDENT, Harness, assert_valid_html, buttons, play

pytestmark = pytest.mark.timeout(180)

QUESTION = "¿Cuánto vale el proyecto final en la nota?"


def votes(h: Harness) -> list[tuple[int, int]]:
    with h.services.knowledge.sessions() as s:
        return [(f.user_id, f.value) for f in s.query(Feedback).order_by(Feedback.user_id)]


def test_votes_are_stored_once_per_student_and_dislikes_reach_the_gap_queue(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        answer = h.last(STUDENT)
        await h.press(STUDENT, answer["message_id"], buttons(answer)["👍"])
        assert h.callback_answers() == [{"text": "¡Gracias! 👍", "show_alert": False}]
        await h.press(STUDENT, answer["message_id"], buttons(answer)["👎"])  # changed their mind
        assert votes(h) == [(STUDENT, -1)]
        gaps = await h.services.database.run(knowledge_gaps)
        assert [(g.question, g.disliked) for g in gaps] == [(QUESTION, 1)]
        await h.send_text(ADMIN, "/pendientes")
        assert f"(1×) {QUESTION} — 1 👎" in h.texts(ADMIN)[-1]

    play(settings, kb, scenario)


def test_ver_fuente_sends_the_passages_and_then_the_document(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        answer = h.last(STUDENT)
        await h.press(STUDENT, answer["message_id"], buttons(answer)["📄 Ver fuente"])
        passages = h.last(STUDENT)
        assert passages["text"].startswith("[1] programa\n📁 programa.md\n")
        assert_valid_html(passages["raw_text"])
        assert "<blockquote>" in passages["raw_text"]
        await h.press(STUDENT, passages["message_id"], buttons(passages)["📎 programa.md"])
        [sent] = h.emu.uploaded_files(STUDENT)
        assert sent["file_name"] == "programa.md"
        assert sent["data"] == (settings.resolved_materials_dir / "programa.md").read_bytes()
        assert h.last(STUDENT)["caption"] == "programa"

        (settings.resolved_materials_dir / "programa.md").rename(settings.resolved_materials_dir / "x.md")
        try:
            await h.press(STUDENT, passages["message_id"], buttons(passages)["📎 programa.md"])
            assert len(h.emu.uploaded_files(STUDENT)) == 1
            await h.press(STUDENT, answer["message_id"], buttons(answer)["📄 Ver fuente"])
            assert h.last(STUDENT)["reply_markup"] is None  # the document is no longer offered
        finally:
            (settings.resolved_materials_dir / "x.md").rename(settings.resolved_materials_dir / "programa.md")
        assert h.alerts() == ["Ese documento ya no está disponible."]

    play(settings, kb, scenario)


def test_buttons_of_unknown_answers_say_so(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(OTHER, QUESTION)
        answer = h.last(OTHER)
        data = buttons(answer)["👍"]
        with h.services.knowledge.sessions.begin() as s:  # the answer row is gone (e.g. data cleaned up)
            s.execute(Feedback.__table__.delete())
            s.execute(Feedback.metadata.tables["bot_messages"].delete())
        await h.press(OTHER, answer["message_id"], data)
        assert h.callback_answers() == [{"text": "Esa respuesta ya no está disponible.", "show_alert": True}]

    play(settings, kb, scenario)


def test_a_button_no_handler_knows_is_answered(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        old = await h.app.bot.send_message(STUDENT, "viejo", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Antiguo", callback_data="v1:rate:9")]]))
        await h.press(STUDENT, old.message_id, "v1:rate:9")
        assert h.callback_answers() == [{"text": "Este botón ya no funciona.", "show_alert": True}]

    play(settings, kb, scenario)
