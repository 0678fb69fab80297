"""The generator on a real OpenAI-compatible server (llama-cpp-python's `llama_cpp.server` serving the tiny model
on loopback): streaming, token counts, the same answers as in-process, and the faults a server has."""

import time

import pytest

from knowledge.answer.generation import LlamaGenerator
from knowledge.answer.remote import ServerGenerator, TruncatedStream, counts_of, sse_events
from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable
from knowledge.settings import Settings
from tests.conftest import TINY_MODEL
from tests.llama_server import FaultProxy, LlamaServer, free_port

KEY = "test-key"
SYSTEM = {"role": "system", "content": "Eres un asistente del curso. Responde en una oración."}
HOLA = [SYSTEM, {"role": "user", "content": "Hola, ¿qué es un árbol de decisión?"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = LlamaServer(TINY_MODEL, tmp_path_factory.mktemp("llama-server"), api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def remote(server):
    generator = ServerGenerator(server.url, api_key=KEY, n_ctx=1024, backoff=0.05)
    yield generator
    generator.close()


@pytest.fixture
def proxy(server):
    proxy = FaultProxy(server.url)
    yield proxy
    proxy.close()


def test_the_server_streams_a_completion_with_its_token_counts(remote):
    remote.load()
    assert remote.model and remote.name.endswith(f"@ 127.0.0.1:{remote.base.rsplit(':', 1)[1]}")
    pieces = []
    completion = remote.stream(HOLA, 16, pieces.append)
    assert len(pieces) >= 2 and "".join(pieces) == completion.text
    assert completion.prompt_tokens > 10 and 0 < completion.completion_tokens <= 16
    assert 0 < completion.ttft_ms <= completion.total_ms


def test_token_counts_are_the_servers_tokenizer_and_match_in_process(remote):
    local = LlamaGenerator(TINY_MODEL, n_ctx=1024, n_threads=2)
    texts = ["", "Hola", "¿Cuánto vale el proyecto final?", SYSTEM["content"] * 3, "<|im_start|>user\nHola"]
    assert [remote.count_tokens(t) for t in texts] == [local.count_tokens(t) for t in texts]


def test_a_wrong_api_key_is_refused_at_once_and_not_retried(server):
    proxy = FaultProxy(server.url)
    try:
        wrong = ServerGenerator(proxy.url, api_key="not-the-key", backoff=0.05)
        with pytest.raises(GeneratorUnavailable, match="HTTP 401"):
            wrong.stream(HOLA, 4, lambda piece: None)
        assert proxy.requests == 1
        with pytest.raises(GeneratorUnavailable, match="unavailable"):
            wrong.load()
    finally:
        proxy.close()


def test_the_same_questions_get_the_same_answers_in_process_and_on_the_server(kb, sample_course, server):
    kb.settings.generator_model = str(TINY_MODEL)
    kb.settings.max_answer_tokens, kb.settings.n_ctx, kb.settings.n_threads = 24, 1024, 2
    kb.settings.answer_max_sources, kb.settings.answer_total_chars = 2, 800
    kb.indexer.ingest_file(sample_course / "programa.md", sample_course)
    questions = ["¿Cuándo es el horario de atención?", "¿Qué pasa si entrego tarde un taller?",
                 "¿Cuánto vale el proyecto final?"]
    local = [kb.answerer.answer(q) for q in questions]
    assert type(kb.generator) is LlamaGenerator
    kb.answerer.queue.stop()
    for part in ("answerer", "generator"):
        kb.__dict__.pop(part)
    kb.settings.generator_url, kb.settings.generator_api_key = server.url, KEY
    kb.settings.generator_concurrency = 2
    served = [kb.answerer.answer(q) for q in questions]
    assert type(kb.generator) is ServerGenerator and kb.answerer.queue.workers == 2
    for a, b in zip(local, served, strict=True):  # one code path: prompt, screen, citations, abstention
        assert (b.raw_answer, b.answer, b.abstained, b.citations) == (a.raw_answer, a.answer, a.abstained,
                                                                       a.citations)
        assert b.timings["prompt_tokens"] > 0


def test_busy_answers_are_retried_with_backoff_before_the_first_token(proxy):
    remote = ServerGenerator(proxy.url, api_key=KEY, backoff=0.05, retries=2)
    proxy.fail(503, 2)
    assert remote.stream(HOLA, 4, lambda piece: None).text
    assert proxy.requests == 3
    proxy.fail(429, 1, retry_after=0.5)  # the server's Retry-After is waited
    start = time.monotonic()
    assert remote.stream(HOLA, 4, lambda piece: None).text
    assert time.monotonic() - start >= 0.5
    proxy.fail(503, 3)  # bounded: the third refusal in a row is final
    with pytest.raises(GeneratorUnavailable, match="HTTP 503"):
        remote.stream(HOLA, 4, lambda piece: None)
    assert proxy.requests == 3 + 2 + 3


def test_a_stream_cut_or_stalled_after_its_first_token_fails_and_is_not_repeated(proxy):
    remote = ServerGenerator(proxy.url, api_key=KEY, backoff=0.05, timeout=1.0)
    for fault in (proxy.cut, lambda: proxy.stall(5)):
        fault()
        before, pieces = proxy.requests, []
        start = time.monotonic()
        with pytest.raises(GeneratorUnavailable, match="failed"):
            remote.stream(HOLA, 32, pieces.append)
        assert pieces and proxy.requests == before + 1  # the student saw a token: not repeated
        assert time.monotonic() - start < 4.5
    assert remote.stream(HOLA, 4, lambda piece: None).text  # and the next request is served


def test_a_server_down_at_start_or_killed_mid_stream_is_unavailable_and_recovers(tmp_path):
    port = free_port()
    remote = ServerGenerator(f"http://127.0.0.1:{port}", api_key=KEY, backoff=0.05, retries=1)
    with pytest.raises(GeneratorUnavailable, match="unavailable"):
        remote.load()
    with pytest.raises(GeneratorUnavailable, match="ConnectError"):
        remote.stream(HOLA, 4, lambda piece: None)
    server = LlamaServer(TINY_MODEL, tmp_path, port=port, api_key=KEY).start()
    try:
        remote.load()  # back: the same generator serves, nothing restarted on our side
        assert remote.stream(HOLA, 4, lambda piece: None).text

        def crash(piece):
            server.kill()

        with pytest.raises(GeneratorUnavailable):
            remote.stream(HOLA, 32, crash)
        server.start()
        assert remote.stream(HOLA, 4, lambda piece: None).text
    finally:
        server.stop()


def test_sse_and_the_counts_each_server_reports():
    lines = [": keep-alive", "", 'data: {"choices": [{"delta": {"content": "Ho"}}]}', "",
             'data: {"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 2, '
             '"prompt_tokens_details": {"cached_tokens": 12}}}', "data: [DONE]", 'data: {"ignored": true}']
    events = list(sse_events(iter(lines)))
    assert len(events) == 2 and events[0]["choices"][0]["delta"]["content"] == "Ho"
    assert counts_of(events[1]) == {"prompt": 30, "completion": 2, "cached": 12}  # OpenAI, vLLM
    llama_server = {"timings": {"prompt_n": 8, "cache_n": 22, "predicted_n": 5}}
    assert counts_of(llama_server) == {"prompt": 30, "completion": 5, "cached": 22}
    assert counts_of({"choices": []}) == {}
    finished = ['data: {"choices": [{"delta": {"content": "Ho"}, "finish_reason": "length"}]}']
    assert len(list(sse_events(iter(finished)))) == 1  # Ollama-style: a finish_reason and no [DONE] is complete
    with pytest.raises(TruncatedStream):  # cut: neither [DONE] nor a finish_reason
        list(sse_events(iter(lines[:3])))


def test_settings_choose_the_server_and_keep_the_key_out_of_reprs(tmp_path, monkeypatch, kb):
    monkeypatch.setenv("COURSEBOT_GENERATOR_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("COURSEBOT_GENERATOR_API_KEY", "s3cret-key")
    monkeypatch.setenv("COURSEBOT_GENERATOR_CONCURRENCY", "3")
    settings = Settings(data_dir=tmp_path, collection=kb.collection_name, _env_file=None)
    assert "s3cret-key" not in repr(settings)
    view = Knowledge(settings)
    view.client = kb.client  # the open connection; the generator is built from these settings
    assert isinstance(view.generator, ServerGenerator) and view.answerer.queue.workers == 3
    assert "s3cret" not in view.generator.name and view.generator.base == "http://127.0.0.1:9"
    assert type(kb.generator) is LlamaGenerator and kb.answerer.queue.workers == 1  # unset: in-process, one
    monkeypatch.setenv("COURSEBOT_GENERATOR_URL", "localhost:8081")
    with pytest.raises(ValueError, match="http"):
        Settings(data_dir=tmp_path, _env_file=None)
