"""The generator on a server: an OpenAI-compatible `/v1/chat/completions`, streamed over SSE.

The same protocol as the in-process `LlamaGenerator` (`load`, `count_tokens`, `stream`, `name`, `n_ctx`), so the
answerer's prompt, screening, citations, abstention and the bot's streamed reply are one code path for both.
It speaks to llama.cpp's `llama-server`, llama-cpp-python's `llama_cpp.server`, vLLM and Ollama: what they share
is the OpenAI chat API; what only some report (token counts, the prefix cache) is read where it is present.

A request that fails before its first token (connection refused, 429, 502/503/504, a server that sends nothing
within the timeout) is retried with backoff, a bounded number of times: nothing was shown to the student, so it
is safe to repeat. A stream that breaks or stalls after its first token is not retried (the student has seen
part of an answer); both end as `GeneratorUnavailable`, the bot's usual apology. The next request tries again,
so the bot recovers by itself when the server is back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx

from ..errors import GeneratorUnavailable
from ..settings import http_url
from .generation import Completion

log = logging.getLogger(__name__)

RETRIED_STATUS = {429, 502, 503, 504}
MAX_BACKOFF_SECONDS = 8.0


class ServerError(Exception):
    """A failed request, and whether repeating it is safe (nothing was streamed yet)."""

    def __init__(self, message: str, retry: bool, wait: float | None = None):
        super().__init__(message)
        self.retry, self.wait = retry, wait


class TruncatedStream(ValueError):
    """The connection closed before the server said the answer was finished."""


def sse_events(lines: Iterator[str]) -> Iterator[dict]:
    """The JSON payloads of an SSE stream's `data:` lines, up to `[DONE]` (comments and blank lines skipped). A
    stream that ends with neither `[DONE]` nor a `finish_reason` was cut: `TruncatedStream`."""
    finished = False
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        if data:
            event = json.loads(data)
            finished = finished or any(c.get("finish_reason") for c in event.get("choices") or [])
            yield event
    if not finished:
        raise TruncatedStream("the stream ended before the answer was finished")


def text_of(event: dict) -> str:
    """The answer text a streamed chunk carries (its choices' `delta.content`)."""
    return "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])


def counts_of(event: dict) -> dict[str, int]:
    """Token counts a chunk reports: OpenAI's `usage` (vLLM, llama-server, Ollama) or llama.cpp's `timings`."""
    counts = {}
    if usage := event.get("usage"):
        counts["prompt"] = usage.get("prompt_tokens")
        counts["completion"] = usage.get("completion_tokens")
        counts["cached"] = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    if timings := event.get("timings"):  # llama-server: prompt_n is what it evaluated, cache_n what it reused
        cached = timings.get("cache_n") or 0
        counts["cached"] = cached
        if timings.get("prompt_n") is not None:
            counts["prompt"] = timings["prompt_n"] + cached
        if timings.get("predicted_n") is not None:
            counts["completion"] = timings["predicted_n"]
    return {k: int(v) for k, v in counts.items() if v is not None}


class ServerGenerator:
    """Chat completions from an OpenAI-compatible server; one `httpx.Client` (thread-safe) for all requests."""

    def __init__(self, url: str, model: str = "", api_key: str | None = None, n_ctx: int = 2048, seed: int = 0,
                 timeout: float = 60.0, retries: int = 2, backoff: float = 0.5):
        self.base = http_url(url, "the generator URL").rstrip("/").removesuffix("/v1")
        self.model, self.n_ctx, self.seed = model, n_ctx, seed
        self.retries, self.backoff = retries, backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # read = the longest silence allowed: before the first token and between two tokens
        self._http = httpx.Client(base_url=self.base, headers=headers,
                                  timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        self._count: Callable[[str], int] | None = None
        self._bos = 0  # tokens the server's tokenizer adds to every count (a BOS), subtracted
        self._counted: dict[str, int] = {}

    @property
    def name(self) -> str:
        return f"{self.model or 'model'} @ {urlsplit(self.base).netloc}"

    def close(self) -> None:
        self._http.close()

    def load(self) -> None:
        """Check the server answers and learn its model's name (the bot does this at start)."""
        try:
            response = self._http.get("/v1/models")
            response.raise_for_status()
            models = [m.get("id") for m in response.json().get("data", [])]
        except (httpx.HTTPError, ValueError) as e:
            raise GeneratorUnavailable(f"the generator server {self.base} is unavailable: {describe(e)}") from e
        if not self.model and models:
            self.model = models[0]

    # -- tokens
    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the server's tokenizer (llama-server's `/tokenize`, llama_cpp.server's
        `/extras/tokenize/count`, vLLM's `/tokenize`); without one, an estimate of 1 token per 3 characters."""
        if self._count is None:
            self._count = self._find_tokenizer()
            self._bos = self._count("")
        if (known := self._counted.get(text)) is not None:  # the system prompt and the sources recur
            return known
        if len(self._counted) >= 4096:
            self._counted.clear()
        self._counted[text] = count = max(self._count(text) - self._bos, 0)
        return count

    def _find_tokenizer(self) -> Callable[[str], int]:
        def llama_cpp_python(text: str) -> int:
            return self._post_json("/extras/tokenize/count", {"input": text})["count"]

        def llama_server(text: str) -> int:  # llama-server and vLLM both answer /tokenize, with different fields
            return len(self._post_json("/tokenize", {"content": text, "prompt": text, "model": self.model,
                                                     "add_special": False})["tokens"])

        for candidate in (llama_cpp_python, llama_server):
            try:
                candidate("a")
                return candidate
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                continue
        log.warning("%s has no tokenize endpoint: prompt budgets use an estimate (3 characters per token)",
                    self.base)
        return lambda text: (len(text) + 2) // 3

    def _post_json(self, path: str, body: dict) -> dict:
        try:
            response = self._http.post(path, json=body)
            response.raise_for_status()
            return response.json()
        except httpx.TransportError as e:
            raise GeneratorUnavailable(f"the generator server {self.base} is unavailable: {describe(e)}") from e

    # -- generation
    def stream(self, messages: list[dict], max_tokens: int, on_token: Callable[[str], None],
               temperature: float = 0.1) -> Completion:
        """Stream a chat completion, calling on_token for each piece; retried while nothing was streamed."""
        body = self.request_body(messages, max_tokens, temperature)
        start = time.perf_counter()
        for attempt in range(self.retries + 1):
            try:
                return self._stream_once(body, on_token, start)
            except ServerError as e:
                if not e.retry or attempt == self.retries:
                    raise GeneratorUnavailable(f"the generator server {self.base} failed: {e}") from e
                wait = min(e.wait if e.wait is not None else self.backoff * 2 ** attempt, MAX_BACKOFF_SECONDS)
                log.warning("generator server: %s; retrying in %.1f s (%d/%d)", e, wait, attempt + 1, self.retries)
                time.sleep(wait)
        raise AssertionError("unreachable")

    def request_body(self, messages: list[dict], max_tokens: int, temperature: float = 0.1) -> dict:
        """The `/v1/chat/completions` request: the in-process generator's sampling, streamed."""
        body = {"messages": messages, "max_tokens": max_tokens, "temperature": temperature, "top_p": 0.9,
                "seed": self.seed, "stream": True, "stream_options": {"include_usage": True},
                "repeat_penalty": 1.1,  # llama.cpp's name; the same sampling as the in-process generator
                "cache_prompt": True}  # llama-server: reuse the KV cache of the byte-identical system prompt
        if self.model:
            body["model"] = self.model
        return body

    def _stream_once(self, body: dict, on_token: Callable[[str], None], start: float) -> Completion:
        pieces: list[str] = []
        counts: dict[str, int] = {}
        ttft = None
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as response:
                if response.status_code != 200:
                    response.read()
                    raise ServerError(f"HTTP {response.status_code}: {response.text[:200]}",
                                      response.status_code in RETRIED_STATUS, retry_after(response))
                for event in sse_events(response.iter_lines()):
                    if "error" in event:
                        raise ServerError(f"the server reported: {str(event['error'])[:200]}", not pieces)
                    counts |= counts_of(event)
                    if delta := text_of(event):
                        if ttft is None:
                            ttft = (time.perf_counter() - start) * 1000
                        pieces.append(delta)
                        on_token(delta)
        except httpx.TimeoutException as e:
            raise ServerError(f"no data for {self._http.timeout.read:g} s ({type(e).__name__})", not pieces) from e
        except httpx.TransportError as e:
            raise ServerError(describe(e), not pieces) from e
        except TruncatedStream as e:
            raise ServerError(str(e), not pieces) from e
        except ValueError as e:  # a data line that is not JSON
            raise ServerError(f"an unreadable stream ({e})", not pieces) from e
        text = "".join(pieces)
        total = (time.perf_counter() - start) * 1000
        prompt = counts.get("prompt")
        if prompt is None:  # the server reports none (llama_cpp.server): the messages' text under its tokenizer
            prompt = sum(self.count_tokens(m["content"]) for m in body["messages"])
        completion = counts.get("completion")
        if completion is None:
            completion = self.count_tokens(text)
        return Completion(text, prompt, counts.get("cached", 0), completion,
                          ttft if ttft is not None else total, total)


def retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
