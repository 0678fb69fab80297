"""The generator: one llama.cpp model per process, behind a FIFO queue served by one thread — or by N threads
when the model runs on a server with N slots (`knowledge.answer.remote`).

Requests wait their turn (none is lost), can learn their place in the queue, and stream tokens back
to the caller (sync iteration for the CLI, `async for` for the bot; an `async for` waits on its event
loop and holds no thread, so a queue of students leaves asyncio's executor free). The model is kept loaded, so
llama.cpp reuses its KV cache for the prompt prefix shared with the previous request — the fixed
system prompt — which is why `knowledge.answer.prompt` keeps that prefix byte-identical.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import GeneratorUnavailable
from .states import KVStates, common_prefix

log = logging.getLogger(__name__)


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    cached_tokens: int  # prompt tokens reused from the KV cache (shared prefix)
    completion_tokens: int
    ttft_ms: float
    total_ms: float
    replayed: bool = False  # served from the answer cache (knowledge/answer/cache.py), not generated


class PromptLookup:
    """llama-cpp-python's prompt-lookup draft (the next tokens guessed from the longest n-gram of the context that
    recurs), counting `steps` (forward passes that checked a draft) and `drafted` (tokens it proposed)."""

    def __init__(self, num_pred_tokens: int):
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        self._draft = LlamaPromptLookupDecoding(num_pred_tokens=num_pred_tokens)
        self.steps = self.drafted = 0

    def __call__(self, input_ids, /, **kwargs):
        draft = self._draft(input_ids, **kwargs)
        self.steps += 1
        self.drafted += len(draft)
        return draft


class LlamaGenerator:
    """llama-cpp-python `Llama`, loaded on first use, chat template from the GGUF."""

    def __init__(self, model_path: Path, n_ctx: int = 2048, n_threads: int | None = None,
                 lora_path: Path | None = None, seed: int = 0, lora_scale: float = 1.0, draft_tokens: int = 0,
                 state_cache_mb: int = 0):
        self.model_path, self.n_ctx, self.lora_path, self.seed = Path(model_path), n_ctx, lora_path, seed
        self.lora_scale = lora_scale
        # prompt-lookup speculative decoding: up to this many next tokens guessed from n-grams of the prompt (a cited
        # answer copies its sources) and checked in one batched pass; 0 = off
        self.draft_tokens = draft_tokens
        self.draft: PromptLookup | None = None  # set when the model loads
        # recent answers' KV states, restored for a follow-up whose prompt continues one (`states`); a draft keeps
        # every position's logits, which a state would copy too, so drafting saves none
        self.states = KVStates(state_cache_mb << 20) if state_cache_mb > 0 and not draft_tokens else None
        self.n_threads = n_threads or os.cpu_count() or 1
        self._llama = None
        self._lock = threading.Lock()  # one generation at a time
        self._loading = threading.Lock()  # one load, whichever thread asks first (counting tokens loads too)

    @property
    def name(self) -> str:
        scale = f" ×{self.lora_scale:g}" if self.lora_scale != 1 else ""
        return self.model_path.name + (f" + {Path(self.lora_path).name}{scale}" if self.lora_path else "")

    def load(self) -> None:
        """Load the model now (the bot does at start, so the first student does not wait for it)."""
        self.llama  # noqa: B018

    @property
    def llama(self):
        if self._llama is None:
            with self._loading:
                if self._llama is None:
                    self._llama = self._load()
        return self._llama

    def _load(self):
        if not self.model_path.is_file():
            raise GeneratorUnavailable(f"model file not found: {self.model_path} (run ./scripts/setup.sh "
                                       "or set COURSEBOT_GENERATOR_MODEL)")
        if self.lora_path and not Path(self.lora_path).is_file():
            raise GeneratorUnavailable(f"LoRA adapter not found: {self.lora_path} (COURSEBOT_GENERATOR_LORA)")
        from llama_cpp import Llama

        self.draft = PromptLookup(self.draft_tokens) if self.draft_tokens else None
        try:
            return Llama(model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                         n_threads_batch=self.n_threads, seed=self.seed, verbose=False,
                         lora_path=str(self.lora_path) if self.lora_path else None, lora_scale=self.lora_scale,
                         # a draft needs every position's logits; llama-cpp-python 0.3.36 sizes that buffer from this
                         # argument (n_batch rows without it, so any prompt past 512 tokens failed to broadcast)
                         draft_model=self.draft, logits_all=self.draft is not None)
        except (ValueError, RuntimeError, OSError) as e:
            raise GeneratorUnavailable(f"could not load {self.model_path.name}: {e}") from e

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer (no BOS added). Safe beside a running generation."""
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def render(self, messages: list[dict]) -> str:
        """The prompt text the GGUF's chat template makes of these messages."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self.llama
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise GeneratorUnavailable(f"{self.model_path.name} has no chat template")
        eos = llama._model.token_get_text(llama.token_eos())
        bos = llama._model.token_get_text(llama.token_bos())
        return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(messages=messages).prompt

    def prompt_tokens(self, messages: list[dict]) -> list[int]:
        return self.llama.tokenize(self.render(messages).encode("utf-8"), add_bos=False, special=True)

    def prompt_stats(self, messages: list[dict]) -> tuple[int, int]:
        """(prompt tokens, tokens already in the KV cache from the previous request's common prefix)."""
        tokens = self.prompt_tokens(messages)
        return len(tokens), common_prefix(self.llama.input_ids[: self.llama.n_tokens], np.array(tokens, dtype=np.intc))

    def _start(self, messages: list[dict]) -> tuple[int, int]:
        """Before a generation: restore the saved state this prompt continues, if any; (prompt tokens, cached)."""
        if self.states is None:
            return self.prompt_stats(messages)
        tokens = self.prompt_tokens(messages)
        return len(tokens), self.states.restore(self.llama, tokens)

    def stream(self, messages: list[dict], max_tokens: int, on_token: Callable[[str], None],
               temperature: float = 0.1) -> Completion:
        """Generate a chat completion, calling on_token for each piece; one request at a time."""
        with self._lock:
            start = time.perf_counter()
            prompt_tokens, cached = self._start(messages)
            ttft, pieces = None, []
            try:
                for chunk in self.llama.create_chat_completion(
                        messages=messages, max_tokens=max_tokens, temperature=temperature, top_p=0.9,
                        repeat_penalty=1.1, stream=True, seed=self.seed):
                    delta = chunk["choices"][0]["delta"].get("content")
                    if delta:
                        if ttft is None:
                            ttft = (time.perf_counter() - start) * 1000
                        pieces.append(delta)
                        on_token(delta)
            except (RuntimeError, ValueError) as e:
                raise GeneratorUnavailable(f"generation failed: {e}") from e
            text = "".join(pieces)
            total = (time.perf_counter() - start) * 1000
            if self.states is not None:
                self.states.save(self.llama)  # tens of ms, after the last token was shown
            # the answer's tokens (the KV cache holds one fewer, or a draft's tokens checked but not kept)
            completion_tokens = len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))
            return Completion(text, prompt_tokens, cached, max(completion_tokens, 0),
                              ttft if ttft is not None else total, total)


def _wake(future: asyncio.Future) -> None:
    if not future.done():  # cancelled: its consumer stopped waiting
        future.set_result(None)


@dataclass(eq=False)
class Ticket:
    """A place in the generation queue: iterate it (`for` or `async for`) for tokens; `result` holds the Completion.

    The worker appends each token and wakes who waits: threads through a condition, event loops through
    `call_soon_threadsafe` on a future of their own, so an `async for` holds no thread while it waits. Tokens
    are kept: an iteration that starts late gets them all, then the work's error, if it raised one."""

    id: int
    work: Callable[[Callable[[str], None]], Completion]
    queue_ref: GenerationQueue
    result: Completion | None = None
    error: BaseException | None = None
    _pieces: list[str] = field(default_factory=list, repr=False)
    _done: bool = False
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = field(default_factory=list, repr=False)

    @classmethod
    def replay(cls, completion: Completion, queue: GenerationQueue) -> Ticket:
        """A ticket already served, its text one piece: an answer from the cache, which waits for no one."""
        ticket = cls(0, lambda on_token: completion, queue)
        ticket.put(completion.text)
        ticket.close(completion, None)
        return ticket

    @property
    def position(self) -> int:
        """How many requests are ahead of this one (0 = being served or next)."""
        return self.queue_ref.position(self)

    def put(self, piece: str) -> None:
        """A token from the work (on the worker thread)."""
        with self._changed:
            self._pieces.append(piece)
            self._notify()

    def close(self, result: Completion | None, error: BaseException | None) -> None:
        """The work ended, with its result or its error (on the worker thread)."""
        with self._changed:
            self.result, self.error, self._done = result, error, True
            self._notify()

    def _notify(self) -> None:  # with the lock held
        self._changed.notify_all()
        for loop, future in self._waiting:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: no one there waits any more
                pass
        self._waiting.clear()

    def _batch(self, seen: int, loop: asyncio.AbstractEventLoop | None = None):
        """The tokens after the first `seen` and whether the work ended. With nothing new yet: a thread (no `loop`)
        waits here; an event loop gets a future to await instead (returned third), woken by `_notify`."""
        with self._changed:
            if loop is None:
                self._changed.wait_for(lambda: len(self._pieces) > seen or self._done)
            new, done = self._pieces[seen:], self._done
            if new or done:
                return new, done, None
            woken = loop.create_future()
            self._waiting.append((loop, woken))
            return new, done, woken

    def _ended(self) -> None:
        if self.error is not None:
            raise self.error

    def __iter__(self) -> Iterator[str]:
        seen, done = 0, False
        while not done:
            new, done, _ = self._batch(seen)
            yield from new
            seen += len(new)
        self._ended()

    async def __aiter__(self) -> AsyncIterator[str]:
        loop, seen, done = asyncio.get_running_loop(), 0, False
        while not done:
            new, done, woken = self._batch(seen, loop)
            if woken is not None:
                await woken
            for piece in new:
                yield piece
            seen += len(new)
        self._ended()


class GenerationQueue:
    """First come first served by `workers` threads: one for the in-process model (it generates one answer at a
    time), as many as a server's slots. Requests start in the order they came; up to `workers` run at once."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"a generation queue needs at least one worker, not {workers}")
        self.workers = workers
        self._pending: list[Ticket] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._current: list[Ticket] = []
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.served = 0

    def submit(self, work: Callable[[Callable[[str], None]], Completion]) -> Ticket:
        ticket = Ticket(next(self._ids), work, self)
        with self._cond:
            self._threads = [t for t in self._threads if t.is_alive()]
            if len(self._threads) < self.workers:
                self._stopping = False
                for n in range(len(self._threads), self.workers):
                    thread = threading.Thread(target=self._run, name=f"generator-{n + 1}", daemon=True)
                    thread.start()
                    self._threads.append(thread)
            self._pending.append(ticket)
            self._cond.notify()
        return ticket

    def position(self, ticket: Ticket) -> int:
        """How many requests must start before this one does (0 = being served or next)."""
        with self._cond:
            if ticket in self._current:
                return 0
            try:
                index = self._pending.index(ticket)
            except ValueError:
                return 0
            return index + max(0, len(self._current) - self.workers + 1)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping and not self._pending:
                    return
                ticket = self._pending.pop(0)
                self._current.append(ticket)
            result, error = None, None
            try:
                result = ticket.work(ticket.put)
            except BaseException as e:  # handed to the consumer, who re-raises it
                error = e
            finally:
                with self._cond:
                    self._current.remove(ticket)
                    self.served += 1
                ticket.close(result, error)

    def stop(self, timeout: float = 60.0) -> None:
        """Finish what is queued, then stop the workers."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
