"""Saved KV states on the tiny model: a follow-up interrupted by another student's question continues from its
answer's state exactly as if nothing had come between, and the memory they take stays bounded."""

import numpy as np
import pytest

from knowledge.answer.generation import LlamaGenerator
from knowledge.answer.states import common_prefix
from tests.conftest import TINY_MODEL

SYSTEM = {"role": "system", "content": "Eres un asistente del curso. Responde en una oración."}
FIRST = [SYSTEM, {"role": "user", "content": "Fuentes:\n\n[1] Clase 8\nLa validación cruzada de k pliegues divide "
                                            "el entrenamiento en k partes y entrena k veces, cada vez validando en "
                                            "una parte distinta.\n\nPregunta: ¿Qué es la validación cruzada?"}]
OTHER = [SYSTEM, {"role": "user", "content": "¿Cuándo es el examen final del curso?"}]


def noop(piece: str) -> None:
    pass


def follow_up(first_answer: str) -> list[dict]:
    return [*FIRST, {"role": "assistant", "content": first_answer},
            {"role": "user", "content": "Fuentes:\n\n[1] Clase 8\nSe usa k = 5.\n\n"
                                        "Pregunta: ¿y cuántas veces entrena?"}]


@pytest.fixture(scope="module")
def saving():
    return LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2, state_cache_mb=64)


def test_a_follow_up_after_another_question_reads_only_its_new_turn(saving):
    first = saving.stream(FIRST, 16, noop, temperature=0.0)
    assert len(saving.states) == 1
    saving.stream(OTHER, 4, noop, temperature=0.0)  # another student: the live cache now holds their prompt
    restored_before = saving.states.restored
    follow = saving.stream(follow_up(first.text), 12, noop, temperature=0.0)
    assert saving.states.restored == restored_before + 1
    assert follow.cached_tokens >= first.prompt_tokens  # the whole first prompt, and its answer up to the end
    assert follow.prompt_tokens - follow.cached_tokens < 60  # the new question, its source and the role markers

    # the same follow-up straight after its answer (the live cache, nothing in between) writes the same words
    uninterrupted = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2)
    assert uninterrupted.stream(FIRST, 16, noop, temperature=0.0).text == first.text
    assert uninterrupted.stream(follow_up(first.text), 12, noop, temperature=0.0).text == follow.text

    # without saved states the interruption costs the whole conversation again
    plain = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2)
    plain.stream(FIRST, 16, noop, temperature=0.0)
    plain.stream(OTHER, 4, noop, temperature=0.0)
    cold = plain.stream(follow_up(first.text), 12, noop, temperature=0.0)
    assert cold.prompt_tokens == follow.prompt_tokens
    assert cold.cached_tokens < first.prompt_tokens // 2  # the system prompt only


def test_saved_states_stay_within_their_bytes_least_recently_used_out():
    small = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2, state_cache_mb=64)
    small.stream(FIRST, 8, noop, temperature=0.0)
    small.states.capacity_bytes = small.states.size  # room for that state, not for another beside it
    small.stream(OTHER, 8, noop, temperature=0.0)
    assert len(small.states) == 1 and small.states.size <= small.states.capacity_bytes
    kept, shared = small.states.best(np.array(small.prompt_tokens(OTHER), dtype=np.intc))
    assert kept is not None and shared == len(small.prompt_tokens(OTHER))  # the newer one stayed


def test_no_states_are_saved_when_off_or_when_drafting():
    assert LlamaGenerator(TINY_MODEL, state_cache_mb=0).states is None
    assert LlamaGenerator(TINY_MODEL, state_cache_mb=64, draft_tokens=8).states is None  # its logits would be copied


def test_common_prefix():
    a = np.array([1, 2, 3, 4], dtype=np.intc)
    assert common_prefix(a, np.array([1, 2, 9], dtype=np.intc)) == 2
    assert common_prefix(a, a[:3]) == 3 and common_prefix(a, np.array([], dtype=np.intc)) == 0
    assert common_prefix(a, np.array([7], dtype=np.intc)) == 0
