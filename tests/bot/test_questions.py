"""bot/handlers/questions.py (and the student commands): real retrieval and the tiny model on the sample course."""

from __future__ import annotations

import pytest

from bot.formatting import MAX_MESSAGE
from tests.bot.test_app import OTHER, STUDENT, Harness, assert_valid_html, indexed_course, play

pytestmark = pytest.mark.timeout(180)

GROUP = -100123
QUESTION = "¿Cuánto vale el proyecto final en la nota?"


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("course")) as (settings, kb):
        yield settings, kb


def test_a_question_is_answered_with_streamed_edits_and_cited_sources(course):
    settings, kb = course
    interval = 0.5

    async def scenario(h: Harness) -> None:
        asked = await h.send_text(STUDENT, QUESTION)
        [answer] = h.emu.bot_messages(STUDENT)
        versions = [v["text"] for v in answer["history"]] + [answer["text"]]
        assert versions[0].startswith("⏳")  # the placeholder, sent at once
        assert versions[1].startswith("🔎 Buscando en: programa")  # as soon as retrieval ended
        assert all(a.strip() != b.strip() for a, b in zip(versions, versions[1:], strict=False))
        assert answer["reply_to_message_id"] is None  # private chat: no quote
        assert answer["parse_mode"] == "HTML"
        assert_valid_html(answer["raw_text"])
        assert "Fuentes" in answer["text"] and "[1] programa" in answer["text"]
        buttons = [b["callback_data"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]
        assert [b.split(":")[0] for b in buttons] == ["like", "dislike", "src", "esc"]
        edits = [(at, p) for at, (m, p) in zip(h.request.times, h.request.calls, strict=True)
                 if m == "editMessageText"]
        assert len(edits) == len(answer["history"])
        streamed = [at for at, p in edits[1:] if "parse_mode" not in p]  # after the forced "Buscando" edit
        assert streamed, "the answer should have been shown while it was written"
        assert all(b - a >= interval * 0.95 for a, b in zip([edits[0][0], *streamed], streamed, strict=False))
        assert ("sendChatAction", {"chat_id": STUDENT, "action": "typing"}) in h.request.calls
        assert asked["message_id"] < answer["message_id"]
        assert h.services.conversations.history(STUDENT, STUDENT)[0][0] == QUESTION

    play(settings.model_copy(update={"edit_interval": interval}), kb, scenario)


def test_follow_ups_send_the_history_and_nuevo_forgets_it(course):
    settings, kb = course
    seen: list = []

    async def scenario(h: Harness) -> None:
        answerer = kb.answerer
        original = answerer.astream

        def spy(question, history=None, **filters):
            seen.append(list(history or []))
            return original(question, history, **filters)

        answerer.astream = spy
        try:
            await h.send_text(STUDENT, QUESTION)
            await h.send_text(STUDENT, "¿y los talleres?")
            await h.send_text(STUDENT, "/nuevo")
            await h.send_text(STUDENT, "¿y el parcial?")
        finally:
            del answerer.astream
        assert h.texts(STUDENT)[-2] == "🧹 Listo, empezamos una conversación nueva."

    play(settings, kb, scenario)
    assert seen[0] == []
    assert [q for q, _ in seen[1]] == [QUESTION]
    assert seen[2] == []


def test_in_groups_only_mentions_and_replies_are_answered_quoting_the_question(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, "hola a todos, ¿quién va a la clase?", chat_id=GROUP, chat_type="group")
        assert h.emu.bot_messages(GROUP) == []
        asked = await h.send_text(STUDENT, f"@coursebot_test {QUESTION}", chat_id=GROUP, chat_type="group")
        [answer] = h.emu.bot_messages(GROUP)
        assert answer["reply_to_message_id"] == asked["message_id"]
        assert "Fuentes" in answer["text"]
        follow = await h.send_text(OTHER, "¿y los talleres?", chat_id=GROUP, chat_type="group",
                                   reply_to_message_id=answer["message_id"])
        assert h.emu.bot_messages(GROUP)[-1]["reply_to_message_id"] == follow["message_id"]
        # context is per user: the other student's follow-up did not see the first student's question
        assert h.services.conversations.history(GROUP, OTHER)[0][0] == "¿y los talleres?"
        assert [q for q, _ in h.services.conversations.history(GROUP, STUDENT)] == [QUESTION]
        await h.send_text(OTHER, "/fuentes@coursebot_test", chat_id=GROUP, chat_type="group")
        assert "programa.md" in h.texts(GROUP)[-1]

    play(settings, kb, scenario)


def test_students_over_the_rate_limit_get_a_friendly_message(course):
    settings, kb = course
    limited = settings.model_copy(update={"rate_per_minute": 1})

    async def scenario(h: Harness) -> None:
        await h.send_text(OTHER, QUESTION)
        answered = len(h.emu.bot_messages(OTHER))
        await h.send_text(OTHER, "¿y los talleres?")
        assert h.texts(OTHER)[answered:] == [h.texts(OTHER)[-1]]
        assert h.texts(OTHER)[-1].startswith("🐢 Vas muy rápido: puedo responder hasta 1 preguntas por minuto")
        await h.send_text(OTHER, "/help")  # commands are not questions: not limited
        assert h.texts(OTHER)[-1].startswith("Escríbeme tu pregunta")

    play(limited, kb, scenario)


def test_start_and_fuentes_describe_the_course(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, "/start", first_name="Ana")
        start = h.last(STUDENT)
        assert start["text"].startswith("¡Hola, Ana! 👋 Soy el asistente del curso Curso de ejemplo.")
        assert "Tengo 4 documentos indexados" in start["text"]
        await h.send_text(STUDENT, "/fuentes")
        listing = h.last(STUDENT)["text"]
        assert "Semana 01_Introducción/Clase 1_Introducción.pdf" in listing and "programa.md" in listing
        assert len(listing) <= MAX_MESSAGE

    play(settings, kb, scenario)
