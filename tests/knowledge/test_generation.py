"""Real llama.cpp on the tiny model: streaming, the FIFO queue, the prefix cache."""

import threading

import pytest

from knowledge.errors import GeneratorUnavailable
from knowledge.generation import GenerationQueue, LlamaGenerator
from tests.conftest import TINY_MODEL

SYSTEM = {"role": "system", "content": "Eres un asistente del curso. Responde en una oración."}


@pytest.fixture(scope="module")
def generator():
    return LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2)


def test_stream_yields_increments_then_a_completion(generator):
    queue = GenerationQueue()
    try:
        ticket = queue.submit(lambda cb: generator.stream([SYSTEM, {"role": "user", "content": "Hola"}], 16, cb))
        pieces = list(ticket)
    finally:
        queue.stop()
    assert len(pieces) >= 2
    assert "".join(pieces) == ticket.result.text
    assert ticket.result.prompt_tokens > 10 and 0 < ticket.result.completion_tokens <= 16
    assert ticket.result.ttft_ms <= ticket.result.total_ms


def test_shared_prefix_is_reused_from_the_kv_cache(generator):
    first = generator.stream([SYSTEM, {"role": "user", "content": "¿Qué es un árbol?"}], 4, lambda t: None)
    second = generator.stream([SYSTEM, {"role": "user", "content": "¿Qué es una red?"}], 4, lambda t: None)
    del first
    system_tokens = generator.prompt_stats([SYSTEM])[0]
    assert second.cached_tokens >= system_tokens - 5
    assert second.cached_tokens < second.prompt_tokens


def test_concurrent_requests_are_served_in_order_and_none_is_lost(generator):
    queue = GenerationQueue()
    order, tickets, lock = [], [], threading.Lock()

    def work(i):
        def run(cb):
            with lock:
                order.append(i)
            return generator.stream([SYSTEM, {"role": "user", "content": f"Pregunta {i}"}], 4, cb)
        return run

    try:
        tickets = [queue.submit(work(i)) for i in range(6)]
        positions = [t.position for t in tickets]
        results = [("".join(t), t.result) for t in tickets]
    finally:
        queue.stop()
    assert order == list(range(6))
    assert positions[-1] >= 4  # the last one learned it had others ahead
    assert all(r is not None for _, r in results) and queue.served == 6


def test_an_error_reaches_its_caller_and_the_queue_keeps_serving(generator):
    queue = GenerationQueue()

    def boom(cb):
        raise GeneratorUnavailable("simulated failure")

    try:
        bad = queue.submit(boom)
        good = queue.submit(lambda cb: generator.stream([SYSTEM, {"role": "user", "content": "Hola"}], 4, cb))
        with pytest.raises(GeneratorUnavailable):
            list(bad)
        list(good)
    finally:
        queue.stop()
    assert good.result is not None and good.result.completion_tokens > 0


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(GeneratorUnavailable, match="model file not found"):
        LlamaGenerator(tmp_path / "nope.gguf").count_tokens("hola")
