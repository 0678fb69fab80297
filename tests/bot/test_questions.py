"""bot/handlers/questions.py (and the student commands): real retrieval and the tiny model on the sample course."""

from __future__ import annotations

import pytest

from bot.formatting import MAX_MESSAGE
from knowledge.answer.answerer import AnswerResult, Retrieved
from knowledge.retrieval import Hit
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
        assert h.services.conversations.history(STUDENT, STUDENT)[0].question == QUESTION

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
        finally:
            del answerer.astream
        remembered = h.services.conversations.history(STUDENT, STUDENT)
        assert [e.question for e in remembered] == [QUESTION, "¿y los talleres?"]
        # the follow-up continued the first answer's own prompt: the model saw that turn, sources and all
        first, follow_up = remembered
        assert first.prompt and follow_up.prompt[:len(first.prompt)] == first.prompt
        assert follow_up.prompt[len(first.prompt)] == {"role": "assistant", "content": first.answer}
        await h.send_text(STUDENT, "/nuevo")
        assert h.texts(STUDENT)[-1] == "🧹 Listo, empezamos una conversación nueva."
        assert h.services.conversations.history(STUDENT, STUDENT) == []

    play(settings, kb, scenario)
    assert seen[0] == []
    assert [e.question for e in seen[1]] == [QUESTION]


def test_in_groups_only_mentions_and_replies_are_answered_quoting_the_question(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, "hola a todos, ¿quién va a la clase?", chat_id=GROUP, chat_type="group")
        assert h.emu.bot_messages(GROUP) == []
        asked = await h.send_text(STUDENT, f"@coursebot_test {QUESTION}", chat_id=GROUP, chat_type="group")
        [answer] = h.emu.bot_messages(GROUP)
        assert answer["reply_to_message_id"] == asked["message_id"]
        assert "Fuentes" in answer["text"]
        follow = await h.send_text(OTHER, QUESTION, chat_id=GROUP, chat_type="group",
                                   reply_to_message_id=answer["message_id"])
        assert h.emu.bot_messages(GROUP)[-1]["reply_to_message_id"] == follow["message_id"]
        assert "Fuentes" in h.emu.bot_messages(GROUP)[-1]["text"]
        # context is per user: each student's history holds their own turn only (shared, it would hold two)
        assert [e.question for e in h.services.conversations.history(GROUP, OTHER)] == [QUESTION]
        assert [e.question for e in h.services.conversations.history(GROUP, STUDENT)] == [QUESTION]
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


class _LongAnswers:
    """A stand-in for `Knowledge` whose answerer writes 9,000 characters: the tiny model cannot, in test time."""

    def __init__(self, kb):
        self.client, self.sessions, self.collection_name = kb.client, kb.sessions, kb.collection_name
        self.generator = kb.generator
        self.answerer = self

    def check_question(self, question):
        """Every question fits."""

    async def astream(self, question, history=None, executor=None):
        hit = Hit("id", "programa.md", "programa", "", "", 0, 0, 0, 1.0, "texto")
        yield Retrieved([hit], [], 1.0)
        sentence = "La nota final combina talleres, proyecto y parcial <30/40/30> & más [1]. "
        for _ in range(3):
            yield sentence
        citation = {"n": 1, "file": "programa.md", "title": "programa", "label": "programa", "text": "texto"}
        yield AnswerResult(question, sentence * 120, False, "", [citation], [hit], "", 1.0, {"total_ms": 1.0})


def test_answers_longer_than_a_message_are_split_with_the_buttons_under_the_last_part(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        asked = await h.send_text(STUDENT, "¿Cómo se calcula la nota?")
        parts = [m for m in h.emu.bot_messages(STUDENT) if m["message_id"] > asked["message_id"]]
        assert len(parts) == 3
        for part in parts:
            assert part["parse_mode"] == "HTML" and len(part["text"]) <= MAX_MESSAGE
            assert_valid_html(part["raw_text"])
        assert [bool(p["reply_markup"]) for p in parts] == [False, False, True]
        assert parts[0]["text"].startswith("La nota final combina talleres, proyecto y parcial <30/40/30> & más [1].")
        assert parts[-1]["text"].endswith("Fuentes\n[1] programa")
        assert sum(p["text"].count("<30/40/30>") for p in parts) == 120

    play(settings, _LongAnswers(kb), scenario)


def test_what_the_bot_cannot_read_gets_a_short_message_and_a_caption_is_a_question(course):
    """Regression: stickers, locations and documents from students got silence. (Photos and voice notes are read:
    tests/bot/test_media.py.)"""
    from bot.handlers.questions import CANNOT_READ, READS, STUDENT_DOCUMENT

    settings, kb = course
    reads = READS.format(seconds="60")

    async def scenario(h: Harness) -> None:
        emu = h.emu
        for message, kind in ((emu.send_sticker(STUDENT), "sticker"),
                              (emu.send_location(STUDENT, latitude=4.6, longitude=-74.1), "location"),
                              (emu.send_poll(STUDENT, "¿Vamos?", ["sí", "no"]), "poll"),
                              (emu.send_video(STUDENT, b"\x00\x00\x00\x18ftypmp42"), "video"),
                              (emu.send_animation(STUDENT, b"\x00\x00\x00\x18ftypmp42"), "animation")):
            sent = len(h.texts(STUDENT))
            await h.process(message=message)
            assert h.texts(STUDENT)[sent:] == [f"{CANNOT_READ[kind]} {reads}"], message
        assert "notas de voz de hasta 60 s" in reads and "fotos" in reads
        sent = len(h.texts(STUDENT))
        await h.send_document(STUDENT, "tarea.md", b"# Mi tarea\n")
        assert h.texts(STUDENT)[sent:] == [STUDENT_DOCUMENT]
        assert "getFile" not in h.request.methods()  # nothing a student sent was downloaded
        await h.send_document(STUDENT, "tarea.md", b"# Mi tarea\n", caption=QUESTION)  # the caption is asked
        answer = h.last(STUDENT)
        assert answer["parse_mode"] == "HTML" and "Fuentes" in answer["text"], answer["text"]
        h.emu.add_chat(OTHER, GROUP, "group", title="Curso")
        sent = len(h.texts(GROUP))
        await h.process(message=emu.send_sticker(OTHER, chat_id=GROUP, chat_type="group"))  # not addressed to us
        assert h.texts(GROUP)[sent:] == []

    play(settings.model_copy(update={"rate_per_minute": 20}), kb, scenario)


def test_a_question_too_long_to_answer_gets_a_clear_message_and_leaves_no_trace(course):
    """Regression: a long question overflowed the model's context and the student read "no puedo redactar
    respuestas… en unos minutos"; it was also kept as history, so every follow-up failed the same way."""
    settings, kb = course

    async def scenario(h: Harness) -> None:
        h.services.conversations.forget(OTHER, OTHER)
        await h.send_text(OTHER, "¿Qué pasa si " + "entrego tarde un taller y además " * 120 + "?")
        [reply] = h.texts(OTHER)
        assert reply.startswith("✂️ Tu pregunta es demasiado larga") and "caracteres" in reply, reply
        assert h.services.conversations.history(OTHER, OTHER) == []
        await h.send_text(OTHER, QUESTION)
        assert "Fuentes" in h.texts(OTHER)[-1] or h.texts(OTHER)[-1].startswith("🤷")

    play(settings, kb, scenario)
