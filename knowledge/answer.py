"""Cited answers: retrieve → select sources → generate (queued, streamed) → attribute → decide.

`Answerer.answer_stream(question, history)` yields, in order: one `Retrieved` event (as soon as
retrieval ends, for the bot to show what it found), text increments (str) as the model writes, and
one final `AnswerResult`. What the model writes is screened before anyone sees it (`Screen`): a source
list of its own making is dropped, and an answer that recites the system prompt is declined.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from .abstention import Decision, Thresholds, decide, decline_message
from .citations import attribute, without_source_lists
from .generation import GenerationQueue, LlamaGenerator, Ticket
from .prompt import Source, build_messages, echoes_system_prompt, select_sources, system_prompt
from .retrieval import Hit, Retriever
from .text import detect_language


@dataclass
class Retrieved:
    hits: list[Hit]
    sources: list[Source]
    retrieval_ms: float
    queue_position: int = 0


@dataclass
class AnswerResult:
    question: str
    answer: str
    abstained: bool
    reason: str
    citations: list[dict]  # {"n", "file", "title", page|pages|slide|slides|cell|cells, "text"}
    sources: list[Hit]
    raw_answer: str
    support: float
    timings: dict = field(default_factory=dict)
    top_similarity: float | None = None
    attributed: list[dict] = field(default_factory=list)  # what the answer would cite had it not declined

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
            "sources": [h.to_dict() for h in self.sources], "timings": self.timings,
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
    course: str = "Curso"
    k: int = 4  # chunks retrieved
    max_sources: int = 3  # chunks given to the model
    max_chars_per_source: int = 600
    max_total_chars: int = 1500
    max_answer_tokens: int = 200
    max_history_turns: int = 2
    thresholds: Thresholds = field(default_factory=Thresholds)


class Answerer:
    def __init__(self, retriever: Retriever, generator: LlamaGenerator, queue: GenerationQueue | None = None,
                 settings: AnswerSettings | None = None):
        self.retriever, self.generator = retriever, generator
        self.queue = queue or GenerationQueue()
        self.settings = settings or AnswerSettings()
        self.system = system_prompt(self.settings.course)

    def retrieve(self, question: str, **filters) -> Retrieved:
        start = time.perf_counter()
        hits = self.retriever.search(question, k=self.settings.k, **filters)
        s = self.settings
        sources = select_sources(hits, question, s.max_sources, s.max_chars_per_source, s.max_total_chars)
        return Retrieved(hits, sources, (time.perf_counter() - start) * 1000)

    def submit(self, question: str, sources: list[Source], history: list[tuple[str, str]] | None) -> Ticket:
        history = (history or [])[-self.settings.max_history_turns:]
        messages = build_messages(self.system, sources, question, history)
        return self.queue.submit(lambda on_token: self.generator.stream(
            messages, self.settings.max_answer_tokens, on_token))

    def answer_stream(self, question: str, history: list[tuple[str, str]] | None = None,
                      **filters) -> Iterator[Retrieved | str | AnswerResult]:
        start = time.perf_counter()
        retrieved = self.retrieve(question, **filters)
        ticket = self.submit(question, retrieved.sources, history) if retrieved.sources else None
        retrieved.queue_position = ticket.position if ticket else 0
        yield retrieved
        if ticket is not None:
            screen = Screen(self.system)
            for piece in ticket:
                if shown := screen.add(piece):
                    yield shown
        yield self.finish(question, retrieved, ticket.result if ticket else None, start)

    async def astream(self, question: str, history: list[tuple[str, str]] | None = None,
                      **filters) -> AsyncIterator[Retrieved | str | AnswerResult]:
        """`answer_stream` for asyncio callers: retrieval and generation run off the event loop."""
        start = time.perf_counter()
        retrieved = await asyncio.to_thread(self.retrieve, question, **filters)
        ticket = self.submit(question, retrieved.sources, history) if retrieved.sources else None
        retrieved.queue_position = ticket.position if ticket else 0
        yield retrieved
        if ticket is not None:
            screen = Screen(self.system)
            async for piece in ticket:
                if shown := screen.add(piece):
                    yield shown
        yield self.finish(question, retrieved, ticket.result if ticket else None, start)

    def answer(self, question: str, history: list[tuple[str, str]] | None = None, **filters) -> AnswerResult:
        *_, result = self.answer_stream(question, history, **filters)
        return result

    def finish(self, question: str, retrieved: Retrieved, completion, start: float) -> AnswerResult:
        """Attribute citations, decide abstention and assemble the result."""
        sources = retrieved.sources
        raw = completion.text if completion else ""
        attributed = attribute(without_source_lists(raw), [s.text for s in sources])
        top_similarity = max((h.similarity for h in retrieved.hits if h.similarity is not None), default=None)
        decision: Decision = decide(raw, attributed.support, top_similarity, len(sources), self.settings.thresholds)
        if not decision.abstain and echoes_system_prompt(raw, self.system):
            decision = Decision(True, "prompt_leak")
        attributed_citations = []
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
                   "completion_tokens": completion.completion_tokens if completion else 0}
        return AnswerResult(question, answer, decision.abstain, decision.reason, citations, retrieved.hits,
                            raw, round(attributed.support, 3), timings, top_similarity, attributed_citations)
