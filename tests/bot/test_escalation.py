""""Preguntar al equipo": the staff get the question, and a staff reply reaches the student."""

from __future__ import annotations

import pytest

from bot.tables import Escalation
from tests.bot.test_app import ADMIN, OTHER, STUDENT, Harness, play

pytestmark = pytest.mark.timeout(180)

QUESTION = "¿Puedo entregar el proyecto final solo?"


def escalate_button(message: dict) -> str:
    return message["reply_markup"]["inline_keyboard"][-1][-1]["callback_data"]


def test_escalation_round_trip(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        asked = await h.send_text(STUDENT, QUESTION, first_name="Ana", username="ana")
        answer = h.last(STUDENT)
        await h.press(OTHER, answer["message_id"], escalate_button(answer), chat_id=STUDENT)
        assert h.alerts() == ["Solo quien hizo la pregunta puede pasársela al equipo."]
        assert h.emu.bot_messages(ADMIN) == []

        await h.press(STUDENT, answer["message_id"], escalate_button(answer))
        staff = h.last(ADMIN)
        assert staff["text"].startswith(f"🙋 Pregunta para el equipo de Ana (@ana, id {STUDENT})\n\n"
                                        f"Pregunta: {QUESTION}\n\nRespuesta del bot: ")
        assert h.texts(STUDENT)[-1].startswith("📨 Le pasé tu pregunta al equipo docente.")
        await h.press(STUDENT, answer["message_id"], escalate_button(answer))
        assert h.alerts()[-1] == "Ya le pasé esta pregunta al equipo docente."

        await h.send_text(ADMIN, "Sí, pero avísale a la profesora <antes> & por escrito.",
                          reply_to_message_id=staff["message_id"])
        relayed = h.last(STUDENT)
        assert relayed["text"] == ("👩‍🏫 Respuesta del equipo docente:\n\n"
                                   "Sí, pero avísale a la profesora <antes> & por escrito.")
        assert relayed["reply_to_message_id"] == asked["message_id"]
        assert h.texts(ADMIN)[-1] == "✅ Respuesta enviada al estudiante."
        with kb.sessions() as s:
            [row] = s.query(Escalation).all()
        assert row.answered_at is not None and row.staff_chat_id == ADMIN

    play(settings, kb, scenario)


def test_a_staff_reply_to_anything_else_is_just_a_question(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(ADMIN, "/help")
        await h.send_text(ADMIN, "¿Cuánto vale el parcial?", reply_to_message_id=h.last(ADMIN)["message_id"])
        assert "Fuentes" in h.texts(ADMIN)[-1]

    play(settings, kb, scenario)


def test_when_no_staff_member_can_be_reached_the_student_is_told(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        answer = h.last(STUDENT)
        await h.press(STUDENT, answer["message_id"], escalate_button(answer))
        assert h.texts(STUDENT)[-1].startswith("😔 Ahora mismo no pude contactar al equipo docente.")

    play(settings, kb, scenario, chats=(STUDENT,))  # the staff never opened a chat with the bot


def test_editing_a_reply_in_a_private_chat_does_not_crash_the_relay(course, caplog):
    """Regression: the relay handler also received edited messages, where `update.message` is None."""
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        answer = h.last(STUDENT)
        await h.press(STUDENT, answer["message_id"], escalate_button(answer))
        staff = h.last(ADMIN)
        reply = h.emu.send_text(ADMIN, "Primera versión.", reply_to_message_id=staff["message_id"])
        await h.process(message=reply)
        relayed = len(h.texts(STUDENT))
        await h.process(edited_message=h.emu.edit_text(ADMIN, reply["message_id"], "Versión corregida."))
        assert len(h.texts(STUDENT)) == relayed  # an edit is not sent again
        assert not any(t.startswith("😔 Lo siento, algo falló") for t in h.texts(ADMIN))

    play(settings, kb, scenario)
    assert "AttributeError" not in caplog.text
