"""bench/levers.py's follow-up section on the tiny model: conversations split as documented, and each follow-up
continued from its saved state reads far fewer tokens than the same follow-up sent as questions and answers."""

import re

import pytest

from bench.levers import _conversations, bench_follow_ups
from tests.conftest import TINY_MODEL

QUESTIONS = ["¿Cuánto vale el proyecto final?", "¿y cuándo se entrega?", "¿y el parcial?"]


def test_conversations_are_consecutive_questions_of_at_least_two():
    talks = _conversations([f"q{i}" for i in range(7)], 3)
    assert talks == [["q0", "q1", "q2"], ["q3", "q4", "q5"]]  # q6 alone is no conversation
    assert _conversations(["q0"], 3) == []


@pytest.fixture
def answering_kb(kb, sample_course):
    kb.settings.generator_model = str(TINY_MODEL)
    kb.settings.max_answer_tokens, kb.settings.n_ctx, kb.settings.n_threads = 16, 2048, 2
    kb.settings.answer_max_sources, kb.settings.answer_total_chars = 1, 300
    kb.settings.abstain_min_support = kb.settings.abstain_min_similarity = 0.0  # the tiny model's answers count
    kb.settings.answer_check = "overlap"
    kb.indexer.ingest_file(sample_course / "programa.md", sample_course)
    return kb


def test_follow_ups_continued_read_fewer_tokens_than_questions_and_answers_alone(answering_kb):
    by_name = {f.name: f for f in bench_follow_ups(answering_kb, QUESTIONS)}
    uncached = by_name["follow-up uncached prompt tokens p50, continued"]
    continued = int(re.search(r"\((\d+) continued their previous prompt", uncached.note).group(1))
    assert "2 follow-ups" in uncached.note and continued >= 1  # the tiny model declines some: those start afresh
    subset = by_name["uncached tokens p50, those continued"]
    assert f"{continued} follow-ups" in subset.note
    assert subset.value < subset.baseline  # its own turn only, against the earlier question, answer and its turn
    assert uncached.value <= uncached.baseline
    prompt = by_name["follow-up prompt tokens p50, continued"]
    assert prompt.value > prompt.baseline  # the earlier sources are in it: more tokens, but already read
    states = by_name["saved KV states"]
    assert 0 < states.value <= states.baseline and "restored" in states.note
