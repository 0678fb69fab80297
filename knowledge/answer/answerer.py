"""Cited answers: retrieve → select sources → generate (queued, streamed) → attribute → decide.

`Answerer.answer_stream(question, history)` yields, in order: one `Retrieved` event (as soon as
retrieval ends, for the bot to show what it found), text increments (str) as the model writes, and
one final `AnswerResult`. What the model writes is screened before anyone sees it (`Screen`): a source
list of its own making is dropped, and an answer that recites the system prompt is declined.

The prompt always fits the model's context: a question over `max_question_tokens` (or too long for the
context) raises QuestionTooLong before retrieval, and history turns, then sources, are left out until
the prompt and the answer fit n_ctx (`knowledge.answer.prompt.fit_prompt`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypedDict

from ..errors import QuestionTooLong
from ..retrieval import Hit, Retriever
from ..text import detect_language
from .abstention import Decision, Thresholds, decide, decline_message
from .cache import AnswerCache, answer_key
from .citations import attribute, without_source_lists
from .generation import GenerationQueue, LlamaGenerator, Ticket
from .grounding import check
from .prompt import (
    MIN_SOURCE_TOKENS,
    Exchange,
    Passage,
    PromptShape,
    build_messages,
    conversation,
    echoes_system_prompt,
    fit_prompt,
)


class CitedSource(TypedDict, total=False):
    """One entry of an answer's "Fuentes" list, as stored and shown: the number the student sees, where the
    passage is (`Hit.provenance`: file, title and one of the location keys), its label and the passage text."""

    n: int
    file: str
    title: str
    page: int
    pages: list[int]
    slide: int
    slides: list[int]
    cell: int
    cells: list[int]
    label: str
    text: str


@dataclass
class Retrieved:
    hits: list[Hit]
    passages: list[Passage]  # the hits that fit the prompt, numbered as the model sees them
    retrieval_ms: float
    queue_position: int = 0
    left_out: dict[str, int] = field(default_factory=dict)  # what `fit_prompt` dropped or cut, if anything
    # the messages after the system prompt, as `prepare` fitted them: the conversation so far, then the question
    # with its sources
    prompt: list[dict] = field(default_factory=list)


@dataclass
class AnswerResult:
    question: str
    answer: str
    abstained: bool
    reason: str
    citations: list[CitedSource]
    hits: list[Hit]  # everything retrieved
    raw_answer: str
    support: float
    timings: dict = field(default_factory=dict)
    top_similarity: float | None = None
    attributed: list[CitedSource] = field(default_factory=list)  # what the answer would cite had it not declined
    exchange: Exchange | None = None  # what a follow-up continues: the prompt the model answered and what it wrote

    def __post_init__(self) -> None:
        if self.exchange is None:  # nothing generated: a follow-up gets the question and the answer shown
            self.exchange = Exchange(self.question, self.answer)

    def fuentes(self) -> list[str]:
        """The "Fuentes" list: '[1] Clase 27, págs. 9–10'."""
        return [f"[{c['n']}] {c['label']}" for c in self.citations]

    def full_text(self) -> str:
        if not self.citations:
            return self.answer
        return self.answer + "\n\nFuentes:\n" + "\n".join(self.fuentes())

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.answer, "abstained": self.abstained,
            "citations": [{k: v for k, v in c.items() if k not in ("text", "label")} for c in self.citations],
            "sources": [h.to_dict() for h in self.hits], "timings": self.timings,
        }


class Screen:
    """What of a streaming answer may be shown: the text stops at a source list the model writes itself, and for
    good once the model starts reciting its instructions (`Answerer.finish` checks the whole answer the same way)."""

    def __init__(self, system: str):
        self.system, self.raw, self.shown, self.stopped = system, "", "", False

    def add(self, piece: str) -> str:
        """The part of the answer that may be shown now ("" for none)."""
        self.raw += piece
        if self.stopped:
            return ""
        visible = without_source_lists(self.raw)
        if not visible.startswith(self.shown) or echoes_system_prompt(visible, self.system):
            self.stopped = True
            return ""
        new, self.shown = visible[len(self.shown):], visible
        return new


@dataclass
class AnswerSettings:
    shape: PromptShape = field(default_factory=PromptShape)  # the course named and the sources' budget
    max_answer_tokens: int = 200
    max_history_turns: int = 2
    max_question_tokens: int = 300  # longer questions raise QuestionTooLong
    thresholds: Thresholds = field(default_factory=Thresholds)
    cache_seconds: float = 0.0  # a repeated question is answered from the cache for this long (0 = never)


TEMPLATE_TOKENS = 64  # kept free in n_ctx for the chat template's own tokens (role markers, generation prompt)


class Answerer:
    def __init__(self, retriever: Retriever, generator: LlamaGenerator, queue: GenerationQueue | None = None,
                 settings: AnswerSettings | None = None):
        self.retriever, self.generator = retriever, generator
        self.queue = queue or GenerationQueue()
        self.settings = settings or AnswerSettings()
        self.system = self.settings.shape.system
        # the prompt is measured for the model this answerer was built for: its tokenizer and context (a
        # generator without a fixed context, as transformers', gets no context budget)
        self.count_tokens = generator.count_tokens
        self.n_ctx: int | None = getattr(generator, "n_ctx", None)
        self.cache = AnswerCache(self.settings.cache_seconds) if self.settings.cache_seconds > 0 else None

    @property
    def prompt_budget(self) -> int | None:
        """The most tokens a prompt may have, leaving room in n_ctx for the answer; None without a context."""
        if self.n_ctx is None:
            return None
        return self.n_ctx - self.settings.max_answer_tokens - TEMPLATE_TOKENS

    def check_question(self, question: str) -> None:
        """Raise QuestionTooLong for a question over `max_question_tokens`, or with no room left in the context
        beside the system prompt, one short source and the answer."""
        limit = self.settings.max_question_tokens
        if self.prompt_budget is not None:
            limit = min(limit, self.prompt_budget - self.count_tokens(self.system) - MIN_SOURCE_TOKENS)
        if (tokens := self.count_tokens(question)) > limit:
            raise QuestionTooLong(tokens, max(limit, 0), len(question))

    def retrieve(self, question: str, **filters) -> Retrieved:
        start = time.perf_counter()
        hits = self.retriever.search(question, k=self.settings.shape.k, **filters)
        sources = self.settings.shape.passages(hits, question)
        return Retrieved(hits, sources, (time.perf_counter() - start) * 1000)

    def prepare(self, question: str, history: list[Exchange] | None = None,
                **filters) -> tuple[Retrieved, list[Exchange]]:
        """What answering does before the generation queue (blocking): check the question's length, retrieve, and
        fit the sources and the conversation (its last `max_history_turns` exchanges, or the last one's whole prompt
        when it fits: `fit_prompt`) to the context. Returns (retrieved, with `prompt` set; the exchanges kept)."""
        self.check_question(question)
        retrieved = self.retrieve(question, **filters)
        turns = self.settings.max_history_turns
        history = list(history or [])[-turns:] if turns > 0 else []
        if retrieved.passages and self.prompt_budget is not None:
            fitted = fit_prompt(self.count_tokens, self.prompt_budget, self.system, retrieved.passages, question,
                                history)
            retrieved.passages, history, retrieved.left_out = fitted.passages, fitted.history, fitted.left_out()
            retrieved.prompt = fitted.messages[1:]
        else:
            retrieved.prompt = build_messages(self.system, retrieved.passages, question,
                                              conversation(history, chained=False))[1:]
        return retrieved, history

    def submit(self, question: str, prompt: list[dict], cache_key: str | None = None) -> Ticket:
        """Queue the generation of `question`'s answer to the system prompt and `prompt`, as `prepare` fitted it
        (kept under `cache_key`)."""
        messages = [{"role": "system", "content": self.system}, *prompt]

        def work(on_token):
            completion = self.generator.stream(messages, self.settings.max_answer_tokens, on_token)
            if cache_key is not None and self.cache is not None:
                self.cache.put(cache_key, completion)
            return completion
        return self.queue.submit(work)

    def _enqueue(self, question: str, retrieved: Retrieved, history: list[Exchange]) -> Ticket | None:
        """The ticket of the generation (None when nothing was retrieved: nothing to answer from), or of the
        cached answer to the same question on the same passages."""
        if not retrieved.passages:
            retrieved.queue_position = 0
            return None
        key = None
        if self.cache is not None:
            key = answer_key(question, [(e.question, e.answer) for e in history], self.generator.name,
                             [p.hit.node_id for p in retrieved.passages])
            if (cached := self.cache.get(key)) is not None:
                retrieved.queue_position = 0
                return Ticket.replay(cached, self.queue)
        ticket = self.submit(question, retrieved.prompt, key)
        retrieved.queue_position = ticket.position
        return ticket

    def answer_stream(self, question: str, history: list[Exchange] | None = None,
                      **filters) -> Iterator[Retrieved | str | AnswerResult]:
        start = time.perf_counter()
        retrieved, history = self.prepare(question, history, **filters)
        ticket = self._enqueue(question, retrieved, history)
        yield retrieved
        if ticket is not None:
            screen = Screen(self.system)
            for piece in ticket:
                if shown := screen.add(piece):
                    yield shown
        yield self.finish(question, retrieved, ticket.result if ticket else None, start)

    async def astream(self, question: str, history: list[Exchange] | None = None,
                      executor: Executor | None = None, **filters) -> AsyncIterator[Retrieved | str | AnswerResult]:
        """`answer_stream` for asyncio callers: `prepare` runs on `executor` (None: the loop's default), and the
        wait for the model's tokens holds no thread."""
        start = time.perf_counter()
        prepare = functools.partial(self.prepare, question, history, **filters)
        retrieved, history = await asyncio.get_running_loop().run_in_executor(executor, prepare)
        ticket = self._enqueue(question, retrieved, history)
        yield retrieved
        if ticket is not None:
            screen = Screen(self.system)
            async for piece in ticket:
                if shown := screen.add(piece):
                    yield shown
        yield self.finish(question, retrieved, ticket.result if ticket else None, start)

    def answer(self, question: str, history: list[Exchange] | None = None, **filters) -> AnswerResult:
        *_, result = self.answer_stream(question, history, **filters)
        return result

    def finish(self, question: str, retrieved: Retrieved, completion, start: float) -> AnswerResult:
        """Attribute citations, decide abstention and assemble the result."""
        sources = retrieved.passages
        raw = completion.text if completion else ""
        attributed = attribute(without_source_lists(raw), [s.text for s in sources])
        top_similarity = max((h.similarity for h in retrieved.hits if h.similarity is not None), default=None)
        thresholds = self.settings.thresholds
        support, grounding = attributed.support, ""
        if thresholds.check == "grounded":  # the model saw each source under its label: both may vouch for it
            found = check(question, attributed.claims, [f"{s.hit.label}\n{s.text}" for s in sources])
            support, grounding = found.support, found.reason
        decision: Decision = decide(raw, support, top_similarity, len(sources), thresholds,
                                    cited=bool(attributed.citations), grounding=grounding)
        if not decision.abstain and echoes_system_prompt(raw, self.system):
            decision = Decision(True, "prompt_leak")
        attributed_citations: list[CitedSource] = []
        for c in attributed.citations:
            hit = sources[c.source - 1].hit
            attributed_citations.append({"n": c.n, **hit.provenance(), "label": hit.label,
                                         "text": sources[c.source - 1].text})
        citations = [] if decision.abstain else attributed_citations
        answer = decline_message(retrieved.hits, detect_language(question)) if decision.abstain else attributed.text
        timings = {"retrieval_ms": round(retrieved.retrieval_ms, 1),
                   "ttft_ms": round(completion.ttft_ms, 1) if completion else None,
                   "total_ms": round((time.perf_counter() - start) * 1000, 1),
                   "prompt_tokens": completion.prompt_tokens if completion else 0,
                   "cached_tokens": completion.cached_tokens if completion else 0,
                   "completion_tokens": completion.completion_tokens if completion else 0,
                   **({"replayed": True} if completion and completion.replayed else {}),
                   **retrieved.left_out}
        # the prompt the model answered and its own words, so a follow-up's prompt matches the state this answer
        # left; a declined answer is the decline the student saw (the bot does not remember those)
        said = Exchange(question, answer if decision.abstain else raw, tuple(retrieved.prompt) if completion else ())
        return AnswerResult(question, answer, decision.abstain, decision.reason, citations, retrieved.hits,
                            raw, round(support, 3), timings, top_similarity, attributed_citations, said)
