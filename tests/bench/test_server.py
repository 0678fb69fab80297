"""bench/server.py: in-process vs server-backed answers on the same questions, beside the raw server, with a
real llama_cpp.server (started by the section itself, or named by URL) and the tiny model."""

import re

import httpx
import pytest

from bench.server import bench_server, local_server
from knowledge.errors import GeneratorUnavailable
from tests.conftest import TINY_MODEL
from tests.llama_server import LlamaServer

QUESTIONS = ["¿Cuándo es el horario de atención?", "¿Cuánto vale el proyecto final?"]


@pytest.fixture
def answering_kb(kb, sample_course):
    kb.settings.generator_model = str(TINY_MODEL)
    kb.settings.max_answer_tokens, kb.settings.n_ctx, kb.settings.n_threads = 16, 1024, 2
    kb.settings.answer_max_sources, kb.settings.answer_total_chars = 1, 300
    kb.indexer.ingest_file(sample_course / "programa.md", sample_course)
    return kb


def check(figures, questions: int) -> dict:
    by_name = {f.name: f for f in figures}
    assert len(by_name) == 4 and all(f.section == "server" for f in figures)
    served, per_minute = by_name["answer total p50, server-backed"], by_name["answers/min one at a time, server-backed"]
    assert served.value > 0 and served.baseline > 0 and f"{questions} questions" in served.note
    assert per_minute.value == pytest.approx(60_000 / served.value)
    overhead = by_name["bot-layer overhead (median total / raw server total)"]
    assert overhead.value > 0.5 and overhead.baseline == 1.0 and overhead.passed is not None  # a target, checked
    return by_name


def test_the_section_starts_a_server_with_the_same_gguf_and_stops_it(answering_kb):
    by_name = check(bench_server(answering_kb, QUESTIONS, log=lambda line: None), 2)
    note = by_name["answer total p50, server-backed"].note
    url = re.search(r"llama_cpp\.server on (http://127\.0\.0\.1:\d+), same GGUF, 2 threads", note).group(1)
    with pytest.raises(httpx.ConnectError):  # stopped: nothing left running
        httpx.get(f"{url}/v1/models", timeout=2)


@pytest.mark.slow  # make test-all: CI keeps the section starting its own server
def test_a_named_server_is_measured_instead(answering_kb, tmp_path):
    server = LlamaServer(TINY_MODEL, tmp_path).start()
    try:
        lines = []
        by_name = check(bench_server(answering_kb, QUESTIONS[:1], server.url, lines.append), 1)
    finally:
        server.stop()
    assert f"the server at {server.url}" in by_name["answer total p50, server-backed"].note
    assert len(lines) == 1 and "raw server" in lines[0]


def test_a_server_that_cannot_start_is_a_clear_error(tmp_path):
    broken = tmp_path / "roto.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(GeneratorUnavailable, match="llama_cpp.server did not start"), \
            local_server(broken, 1, 512, timeout=60):
        pass
