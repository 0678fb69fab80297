"""Real llama.cpp on the tiny model: streaming, the FIFO queue, the prefix cache; tickets consumed from asyncio."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from knowledge.answer.generation import Completion, GenerationQueue, LlamaGenerator
from knowledge.errors import GeneratorUnavailable
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


COPY = [{"role": "system", "content": "Responde copiando la fuente."},
        {"role": "user", "content": "Fuente [1]: La validación cruzada de k pliegues divide el entrenamiento en k "
                                    "partes; entrena k veces, cada vez validando en una parte distinta, y promedia "
                                    "el error.\n\nPregunta: ¿Qué es la validación cruzada? Copia la fuente."}]


def test_prompt_lookup_drafts_from_the_prompt_and_streams_what_it_writes(generator):
    # (off by default: on the 1.5B it was 2× slower and its greedy answers not byte-identical — the batched check
    # computes logits in another order; docs/experiments/latency-levers.md. This guards that it works when asked.)
    drafting = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2, draft_tokens=8)
    streamed: list[str] = []
    drafted = drafting.stream(COPY, 48, streamed.append, temperature=0.0)
    assert drafted.text and "".join(streamed) == drafted.text
    assert 0 < drafted.completion_tokens <= 48
    assert drafting.draft is not None and drafting.draft.steps > 0 and drafting.draft.drafted > 0
    assert generator.draft is None  # off unless asked for
    # regression: with a draft, any prompt past n_batch (512) tokens failed ("could not broadcast input array")
    long = [COPY[0], {"role": "user", "content": COPY[1]["content"] * 12}]
    assert drafting.stream(long, 8, lambda piece: None).prompt_tokens > 600


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


def slow_work(i: int, tokens: int = 2, seconds: float = 0.1):
    """A generation that writes `tokens` pieces tagged with `i`, sleeping before each, as a model would."""
    def run(on_token):
        for k in range(tokens):
            time.sleep(seconds)
            on_token(f"{i}.{k} ")
        return Completion(f"answer {i}", 10, 0, tokens, seconds * 1000, tokens * seconds * 1000)
    return run


def test_async_consumers_waiting_in_line_hold_no_executor_thread():
    """Regression (issue 22): `async for` waited for each token in `asyncio.to_thread`, so every queued request
    held one of the default executor's threads and anything else sent there (database writes, DNS lookups)
    waited behind the whole queue."""
    queue = GenerationQueue()

    async def main() -> tuple[float, int, list[list[str]]]:
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
        tickets = [queue.submit(slow_work(i)) for i in range(20)]

        async def consume(ticket) -> list[str]:
            return [piece async for piece in ticket]

        consumers = [asyncio.create_task(consume(t)) for t in tickets]
        await asyncio.sleep(0.3)  # every consumer is waiting now, most of them far back in the line
        started = time.monotonic()
        assert await asyncio.to_thread(lambda: 1) == 1
        return time.monotonic() - started, queue.waiting, await asyncio.gather(*consumers)

    try:
        waited, still_waiting, received = asyncio.run(main())
    finally:
        queue.stop()
    assert waited < 1.0
    assert still_waiting >= 15  # the line was still long when the probe came back
    assert received == [[f"{i}.0 ", f"{i}.1 "] for i in range(20)]


def test_an_error_in_the_work_is_raised_to_the_async_consumer():
    queue = GenerationQueue()

    def boom(on_token):
        on_token("a ")
        raise GeneratorUnavailable("simulated failure")

    async def consume(ticket) -> list[str]:
        pieces = []
        with pytest.raises(GeneratorUnavailable, match="simulated failure"):
            async for piece in ticket:
                pieces.append(piece)
        return pieces

    try:
        bad, good = queue.submit(boom), queue.submit(slow_work(1))
        assert asyncio.run(consume(bad)) == ["a "]
        assert list(good) == ["1.0 ", "1.1 "] and good.result.text == "answer 1"
    finally:
        queue.stop()


def test_a_consumer_that_starts_late_gets_every_token_sync_or_async():
    queue = GenerationQueue()

    async def consume(ticket) -> list[str]:
        return [piece async for piece in ticket]

    try:
        running = queue.submit(slow_work(1, tokens=3))
        finished = [queue.submit(slow_work(i, tokens=3, seconds=0)) for i in (2, 3)]
        time.sleep(0.15)  # the first has written a token with no one listening
        assert asyncio.run(consume(running)) == ["1.0 ", "1.1 ", "1.2 "]
        while finished[-1].result is None:
            time.sleep(0.01)
        assert asyncio.run(consume(finished[0])) == ["2.0 ", "2.1 ", "2.2 "]
        assert list(finished[1]) == ["3.0 ", "3.1 ", "3.2 "]
    finally:
        queue.stop()


def test_sync_consumers_on_threads_each_get_their_own_tokens():
    queue = GenerationQueue()
    received: dict[int, list[str]] = {}
    tickets = [queue.submit(slow_work(i, seconds=0.01)) for i in range(5)]

    def consume(i: int) -> None:
        received[i] = list(tickets[i])

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(5)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        queue.stop()
    assert received == {i: [f"{i}.0 ", f"{i}.1 "] for i in range(5)}


def test_a_consumer_whose_event_loop_is_gone_does_not_stop_the_queue():
    """An abandoned `async for` (its loop closed mid-answer, as at a bot shutdown) neither stops the worker nor
    takes tokens with it (the old one's thread went on reading the ticket after its loop had closed)."""
    queue = GenerationQueue()

    async def read_one(ticket) -> str:
        async for piece in ticket:
            return piece

    async def abandon(ticket) -> None:
        reader = asyncio.create_task(read_one(ticket))
        await asyncio.sleep(0.05)  # waiting for the first token; the loop closes under it
        reader.cancel()

    try:
        abandoned = queue.submit(slow_work(1, tokens=3))
        asyncio.run(abandon(abandoned))
        after = queue.submit(slow_work(2))
        assert list(after) == ["2.0 ", "2.1 "]
        assert list(abandoned) == ["1.0 ", "1.1 ", "1.2 "]
    finally:
        queue.stop()


def test_a_queue_for_a_servers_slots_starts_in_order_and_runs_at_most_n_at_once():
    queue = GenerationQueue(workers=3)
    started, running, peak, lock = [], [0], [0], threading.Lock()

    def work(i):
        def run(on_token):
            with lock:
                started.append(i)
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(0.15)
            on_token(f"{i} ")
            with lock:
                running[0] -= 1
            return Completion(f"answer {i}", 10, 0, 1, 150, 150)
        return run

    try:
        tickets = [queue.submit(work(i)) for i in range(9)]
        time.sleep(0.05)  # three are being served, six wait
        positions = [t.position for t in tickets]
        texts = ["".join(t) for t in tickets]
    finally:
        queue.stop()
    assert positions[:3] == [0, 0, 0] and positions[3:] == [1, 2, 3, 4, 5, 6]
    assert peak[0] == 3 and queue.served == 9
    assert set(started[:3]) == {0, 1, 2} and sorted(started) == list(range(9))
    assert all(started.index(i) < started.index(i + 3) for i in range(6))  # first come, first started
    assert texts == [f"{i} " for i in range(9)]
    with pytest.raises(ValueError, match="at least one worker"):
        GenerationQueue(workers=0)
