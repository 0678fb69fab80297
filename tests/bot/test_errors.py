"""bot/handlers/errors.py: knowledge failures reach the student as a short Spanish apology, and the bot goes on
serving everyone else."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.bot.test_app import OTHER, STUDENT, Harness, bot_settings, play, use_tiny_model
from tests.conftest import SAMPLE_COURSE, TINY_MODEL
from tests.llama_server import LlamaServer

pytestmark = pytest.mark.timeout(180)

QUESTION = "¿Cuánto vale el proyecto final en la nota?"
NO_ANSWERS = "😔 Lo siento, ahora mismo no puedo redactar respuestas. Inténtalo de nuevo en unos minutos."


@pytest.fixture
def setup(settings, kb):
    use_tiny_model(settings)
    settings.abstain_min_support = settings.abstain_min_similarity = 0.0
    settings.answer_check = "overlap"
    kb.indexer.ingest_file(SAMPLE_COURSE / "programa.md", SAMPLE_COURSE)
    return bot_settings(settings), kb


def test_weaviate_down_gets_an_apology_and_the_bot_recovers(setup, caplog):
    settings, kb = setup

    async def scenario(h: Harness) -> None:
        kb.client.close()  # the connection to Weaviate is gone
        try:
            await asyncio.gather(h.send_text(STUDENT, QUESTION), h.send_text(OTHER, "/help"))
        finally:
            kb.client.connect()
        texts = h.texts(STUDENT)
        assert texts == ["⚠️ No pude terminar esta respuesta.",
                         "😔 Lo siento, ahora mismo no puedo consultar los materiales del curso. "
                         "Inténtalo de nuevo en unos minutos."]
        assert h.texts(OTHER)[-1].startswith("Escríbeme tu pregunta")
        await h.send_text(OTHER, QUESTION)  # Weaviate is back: answered as usual
        assert "Fuentes" in h.texts(OTHER)[-1]

    with caplog.at_level(logging.ERROR, logger="bot"):
        play(settings, kb, scenario)
    [record] = [r for r in caplog.records if r.name == "bot.handlers.errors"]
    assert record.getMessage().startswith("knowledge error: StoreUnavailable: ")


def test_a_broken_model_gets_an_apology_and_commands_keep_working(setup, tmp_path, caplog):
    settings, kb = setup
    broken = tmp_path / "roto.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    kb.settings.generator_model = str(broken)

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        assert h.texts(STUDENT)[-1] == NO_ANSWERS
        await h.send_text(OTHER, "/fuentes")
        assert "programa.md" in h.texts(OTHER)[-1]

    with caplog.at_level(logging.ERROR, logger="bot"):
        play(settings, kb, scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("the answer model is unavailable") for m in messages)  # at startup
    assert any(m.startswith("knowledge error: GeneratorUnavailable: ") for m in messages)


def test_a_generator_server_down_at_start_gets_an_apology_and_serves_once_it_is_up(setup, tmp_path, caplog):
    """COURSEBOT_GENERATOR_URL: the same apology path as an in-process model, and no restart needed."""
    settings, kb = setup
    server = LlamaServer(TINY_MODEL, tmp_path, n_ctx=kb.settings.n_ctx)
    kb.settings.generator_url, kb.settings.generator_retries = server.url, 0

    async def scenario(h: Harness) -> None:
        await h.send_text(STUDENT, QUESTION)
        assert h.texts(STUDENT)[-1] == NO_ANSWERS
        await h.send_text(OTHER, "/fuentes")
        assert "programa.md" in h.texts(OTHER)[-1]
        await asyncio.to_thread(server.start)  # the server comes up while the bot runs
        await h.send_text(STUDENT, QUESTION)
        assert "Fuentes" in h.texts(STUDENT)[-1]

    try:
        with caplog.at_level(logging.ERROR, logger="bot"):
            play(settings, kb, scenario)
    finally:
        server.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("the answer model is unavailable") and server.url in m for m in messages)
    assert any(m.startswith("knowledge error: GeneratorUnavailable: ") for m in messages)
