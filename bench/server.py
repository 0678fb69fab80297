"""`coursebot bench` section "server": the in-process generator and the same GGUF behind an OpenAI-compatible
server, on the same questions in one run, beside the raw server on the same final messages.

Without `--generator-url`, the server is llama-cpp-python's `llama_cpp.server` started here on a free loopback
port with the bench's model, threads and context (the `[server]` extras, installed by `make setup`), and stopped
at the end. The figures are the capacity model of docs/scaling.md: answers per minute, one after another, for
each generator, and the bot layer's overhead over the raw server (target ≤ 1.10×).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from knowledge.answer.answerer import Answerer
from knowledge.answer.generation import GenerationQueue
from knowledge.answer.prompt import build_messages
from knowledge.answer.remote import ServerGenerator, sse_events, text_of
from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable
from knowledge.server import HOST, free_port

from .measure import pipeline_run, prime_cache
from .report import Figure, at_most, percentile


def server_command(model: Path, port: int, threads: int, n_ctx: int, lora: Path | None = None,
                   api_key: str | None = None) -> list[str]:
    """`python -m llama_cpp.server` serving `model` (+ a runtime LoRA) on a loopback port, seeded as in-process."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", HOST,
               "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
               "--n_threads_batch", str(threads), "--seed", "0"]
    if lora:
        command += ["--lora_path", str(lora)]
    if api_key:
        command += ["--api_key", api_key]
    return command


@contextlib.contextmanager
def local_server(model: Path, threads: int, n_ctx: int, lora: Path | None = None,
                 timeout: float = 180.0) -> Iterator[str]:
    """`llama_cpp.server` serving `model` on a free loopback port, for the bench's duration: its URL."""
    port = free_port()
    command = server_command(model, port, threads, n_ctx, lora)
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise GeneratorUnavailable(f"llama_cpp.server did not start ({process.poll()}): "
                                               f"{log.read().decode(errors='replace')[-1500:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                        break
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def raw_server_completion(generator: ServerGenerator, messages: list[dict], max_tokens: int) -> tuple[float, float]:
    """The server alone: the same request body `ServerGenerator` sends, streamed with bare httpx (TTFT, total ms)."""
    start, ttft = time.perf_counter(), None
    with httpx.stream("POST", f"{generator.base}/v1/chat/completions", timeout=300,
                      json=generator.request_body(messages, max_tokens)) as response:
        response.raise_for_status()
        for event in sse_events(response.iter_lines()):
            if ttft is None and text_of(event):
                ttft = time.perf_counter() - start
    total = time.perf_counter() - start
    return (ttft or total) * 1000, total * 1000


def prime_server(generator: ServerGenerator, system: str) -> None:
    """The server's KV cache holding only the system prompt, as `prime_cache` leaves the in-process model."""
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "ok"}]
    with httpx.Client(timeout=300) as client:
        client.post(f"{generator.base}/v1/chat/completions",
                    json={**generator.request_body(messages, 1), "stream": False}).raise_for_status()


def bench_server(kb: Knowledge, questions: list[str], url: str | None = None, log=print) -> list[Figure]:
    """The same questions through the in-process answerer and a server-backed one; the raw server beside them."""
    s, local = kb.settings, kb.answerer
    threads = local.generator.n_threads
    with contextlib.ExitStack() as stack:
        if url is None:
            lora = local.generator.lora_path
            url = stack.enter_context(local_server(local.generator.model_path, threads, s.n_ctx, lora))
            where = f"llama_cpp.server on {url}, same GGUF, {threads} threads"
        else:
            where = f"the server at {url}"
        generator = ServerGenerator(url, s.generator_server_model, s.generator_api_key, s.n_ctx,
                                    timeout=s.generator_timeout_seconds, retries=s.generator_retries)
        stack.callback(generator.close)
        generator.load()
        queue = GenerationQueue(s.generator_concurrency)
        stack.callback(queue.stop)
        served = Answerer(local.retriever, generator, queue, local.settings)
        rows = []
        for q in questions:
            prime_cache(local)
            _, _, local_ttft, local_total = pipeline_run(local, q)
            prime_server(generator, served.system)
            result, retrieved, ttft, total = pipeline_run(served, q)
            if not retrieved.passages:
                continue
            prime_server(generator, served.system)
            messages = build_messages(served.system, retrieved.passages, q)
            raw_ttft, raw_total = raw_server_completion(generator, messages, local.settings.max_answer_tokens)
            rows.append({"local": local_total, "local_ttft": local_ttft, "served": total, "ttft": ttft,
                         "raw": raw_total, "raw_ttft": raw_ttft, "written": result.timings["completion_tokens"]})
            log(f"  server {len(rows)}/{len(questions)}: total {total:.0f} ms (raw server {raw_total:.0f}, "
                f"in-process {local_total:.0f}); TTFT {ttft:.0f} ms")
    if not rows:
        return []
    col = {key: [r[key] for r in rows] for key in rows[0]}
    p50 = {key: percentile(v, 50) for key, v in col.items()}
    overhead = percentile([a / b for a, b in zip(col["served"], col["raw"], strict=True)], 50)
    # the machine's raw write rate on the server, from the raw runs: the answer's tokens after its first one
    write_rate = percentile([r["written"] / max((r["raw"] - r["raw_ttft"]) / 1000, 1e-6) for r in rows], 50)
    note = (f"{where}; {len(rows)} questions, max {local.settings.max_answer_tokens} tokens; raw server write rate "
            f"{write_rate:.1f} tok/s")
    return [
        Figure("server", "answer total p50, server-backed", p50["served"], "ms", None, p50["local"],
               "in-process llama.cpp, same questions", note),
        Figure("server", "TTFT p50, server-backed (incl. retrieval)", p50["ttft"], "ms", None, p50["local_ttft"],
               "in-process llama.cpp, same questions"),
        Figure("server", "answers/min one at a time, server-backed", 60_000 / p50["served"], "answers/min", None,
               60_000 / p50["local"], "in-process llama.cpp",
               f"median {percentile(col['written'], 50):.0f} tokens per answer; × the server's slots when it has "
               "cores for them (docs/scaling.md)"),
        Figure("server", "bot-layer overhead (median total / raw server total)", overhead, "×", at_most(1.10), 1.0,
               "the raw server, same messages"),
    ]

