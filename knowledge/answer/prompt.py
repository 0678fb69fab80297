"""The answer prompt: a fixed Spanish system prompt (byte-identical across requests, so llama.cpp
reuses its KV cache), the conversation so far, then the numbered sources with their labels and the question,
cut to fit the model's context (`fit_prompt`). A follow-up continues the previous request's prompt and answer
word for word while they fit (`conversation`), so the KV state that answer left is its prefix
(`knowledge.answer.states`): only the new question and its sources are read."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import QuestionTooLong
from ..retrieval import Hit
from ..text import content_words, overlap, split_sentences
from .evidence import choose, render_evidence

SYSTEM_PROMPT = """Eres el asistente del curso «{course}». Respondes preguntas de estudiantes usando solo las fuentes numeradas que acompañan cada pregunta (diapositivas, notebooks y documentos del curso).

Instrucciones:
- Responde en una a tres oraciones completas, con los datos concretos que dan las fuentes: valores, nombres, pasos o fórmulas.
- Después de cada afirmación, indica entre corchetes el número de la fuente que la respalda, por ejemplo [1] o [2].
- Usa solo la información de las fuentes. Si las fuentes no contienen la respuesta, responde exactamente: «No encuentro esa información en los materiales del curso.» y no agregues nada inventado.
- Responde en el mismo idioma en que está escrita la pregunta."""

DECLINE_SENTENCE = "No encuentro esa información en los materiales del curso."


@dataclass
class Passage:
    """A retrieved chunk as shown to the model: its number, label and (trimmed) text."""

    n: int
    hit: Hit
    text: str

    def render(self) -> str:
        return f"[{self.n}] {self.hit.label}\n{self.text}"


def system_prompt(course: str) -> str:
    return SYSTEM_PROMPT.format(course=course)


@dataclass(frozen=True)
class PromptShape:
    """How a prompt is built: the course named in the system prompt and the source budget. The one place training
    and serving agree on it — `Knowledge.answerer` builds it from the settings, the adapter dataset records it and
    builds its examples with it, the gate answers with the recorded one."""

    course: str = "Curso"
    k: int = 4  # chunks retrieved
    max_sources: int = 3  # chunks given to the model
    max_chars_per_source: int = 600
    max_total_chars: int = 1500
    evidence: str = "chunks"  # "chunks": the best chunks, each trimmed; "sentences": the best sentences of all k

    @classmethod
    def from_settings(cls, settings, course: str = "") -> PromptShape:
        return cls(course or settings.course_name, settings.answer_k, settings.answer_max_sources,
                   settings.answer_chars_per_source, settings.answer_total_chars, settings.answer_evidence)

    @property
    def system(self) -> str:
        return system_prompt(self.course)

    def passages(self, hits: list[Hit], question: str) -> list[Passage]:
        """The retrieved evidence that fits the budget, numbered, as the model sees them."""
        if self.evidence == "sentences":
            return select_sentences(hits, question, self.max_sources, self.max_total_chars)
        return select_passages(hits, question, self.max_sources, self.max_chars_per_source, self.max_total_chars)


ECHO_WORDS = 8  # this many consecutive words of the system prompt in an answer: the model is reciting it


@lru_cache(maxsize=8)
def _prompt_ngrams(system: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_ngrams(system) - _ngrams(DECLINE_SENTENCE))  # the decline sentence is meant to be said


def _ngrams(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + ECHO_WORDS]) for i in range(len(words) - ECHO_WORDS + 1)}


def echoes_system_prompt(text: str, system: str) -> bool:
    """Whether `text` repeats the system prompt (ECHO_WORDS consecutive words of it): a model talked into
    revealing its instructions, by a question or by a document it was given."""
    return not _prompt_ngrams(system).isdisjoint(_ngrams(text))


def trim(text: str, question: str, max_chars: int) -> str:
    """Keep the sentences of a chunk that share most words with the question, in their original order."""
    if len(text) <= max_chars:
        return text
    sentences = split_sentences(text)
    q = content_words(question)
    ranked = sorted(range(len(sentences)), key=lambda i: (-overlap(q, content_words(sentences[i])), i))
    keep, used = set(), 0
    for i in ranked:
        if used + len(sentences[i]) + 1 > max_chars:
            continue
        keep.add(i)
        used += len(sentences[i]) + 1
    if not keep:
        return text[:max_chars].rsplit(" ", 1)[0] + " …"
    return " ".join(sentences[i] for i in sorted(keep))


def select_passages(hits: list[Hit], question: str, max_sources: int, max_chars_per_source: int,
                   max_total_chars: int) -> list[Passage]:
    """The best hits that fit the character budget, numbered from 1 (fewer, better chunks)."""
    sources, used = [], 0
    for hit in hits[:max_sources]:
        budget = min(max_chars_per_source, max_total_chars - used)
        if budget < 120:
            break
        text = trim(hit.text, question, budget)
        sources.append(Passage(len(sources) + 1, hit, text))
        used += len(text)
    return sources


def select_sentences(hits: list[Hit], question: str, max_sources: int, max_total_chars: int) -> list[Passage]:
    """The sentences of all hits that best cover the question (`evidence.choose`), grouped into at most
    `max_sources` numbered sources within the character budget."""
    evidence = render_evidence(hits, choose(hits, question, max_sources, max_total_chars))
    return [Passage(n, hit, text) for n, (hit, text) in enumerate(evidence, start=1)]


@dataclass(frozen=True)
class Exchange:
    """A question of a conversation and the answer the model gave, with the prompt it answered (the messages after
    the system prompt) — what a follow-up continues, so the KV state that answer left is the follow-up's prefix."""

    question: str
    answer: str
    prompt: tuple[dict, ...] = ()


def question_message(sources: list[Passage], question: str) -> dict:
    """The user message of one question: its numbered sources, then the question."""
    return {"role": "user", "content": "\n\n".join(["Fuentes:", *[s.render() for s in sources], f"Pregunta: {question}"])}


def conversation(history: list[Exchange], chained: bool) -> list[dict]:
    """The earlier turns as chat messages. Chained: the last exchange's own prompt (with its sources, and the turns
    before it as they were then) and its answer, so the previous request is this one's prefix. Otherwise each
    exchange as its question and answer alone."""
    if not history:
        return []
    last = history[-1]
    if chained and last.prompt:
        return [*last.prompt, {"role": "assistant", "content": last.answer}]
    turns = []
    for exchange in history:
        turns += [{"role": "user", "content": f"Pregunta: {exchange.question}"},
                  {"role": "assistant", "content": exchange.answer}]
    return turns


def build_messages(system: str, sources: list[Passage], question: str,
                   earlier: list[dict] | None = None) -> list[dict]:
    """Chat messages: the fixed system prompt first, then the conversation so far (`conversation`), then the
    question with its sources."""
    return [{"role": "system", "content": system}, *(earlier or []), question_message(sources, question)]


MIN_SOURCE_CHARS = 120  # a source shorter than this says too little to answer from (as in `select_passages`)
MIN_SOURCE_TOKENS = 64  # about what one MIN_SOURCE_CHARS source, its label and the headings take in the prompt


@dataclass
class Fitted:
    """The prompt that fits, and what was left out to make it fit."""

    messages: list[dict]
    passages: list[Passage]
    history: list[Exchange]  # the exchanges the prompt holds (chained: the last, whose prompt holds the rest)
    tokens: int  # counted: every message's text, and TURN_TOKENS for each turn past the first question
    chained: bool = False  # the conversation continues the previous request (see `conversation`)
    dropped_turns: int = 0
    dropped_sources: int = 0
    shortened_sources: list[int] = field(default_factory=list)  # numbers of the sources cut shorter

    def left_out(self) -> dict[str, int]:
        """What was dropped or cut, as counts; empty when the whole prompt fitted."""
        counts = {"dropped_turns": self.dropped_turns, "dropped_sources": self.dropped_sources,
                  "shortened_sources": len(self.shortened_sources)}
        return {k: v for k, v in counts.items() if v}


def _shorter(source: Passage, question: str) -> Passage | None:
    """The source at about half its length (its most relevant sentences), or None if it cannot get shorter."""
    if len(source.text) <= MIN_SOURCE_CHARS:
        return None
    text = trim(source.text, question, max(MIN_SOURCE_CHARS, len(source.text) // 2))
    return Passage(source.n, source.hit, text) if len(text) < len(source.text) else None


TURN_TOKENS = 5  # the chat template's role markers around each message past the system prompt and the question


def prompt_tokens(count: Callable[[str], int], messages: list[dict]) -> int:
    return sum(count(m["content"]) for m in messages) + TURN_TOKENS * max(len(messages) - 2, 0)


def fit_prompt(count: Callable[[str], int], budget: int, system: str, sources: list[Passage], question: str,
               history: list[Exchange] | None = None) -> Fitted:
    """`build_messages` within `budget` tokens (`prompt_tokens`). The conversation chained when it fits whole;
    else its exchanges alone, dropped oldest first; then sources cut shorter and dropped from the last (least
    relevant) up, the first never dropped. Raises QuestionTooLong when even that leaves no room for the question."""
    sources, history = list(sources), list(history or [])
    if history and history[-1].prompt:
        chained = build_messages(system, sources, question, conversation(history, True))
        if (tokens := prompt_tokens(count, chained)) <= budget:
            return Fitted(chained, sources, history, tokens, chained=True)

    def size() -> int:
        return prompt_tokens(count, build_messages(system, sources, question, conversation(history, False)))

    tokens, dropped_turns, dropped_sources, shortened = size(), 0, 0, []
    while tokens > budget and history:
        history.pop(0)
        dropped_turns += 1
        tokens = size()
    while tokens > budget and sources:
        if (short := _shorter(sources[-1], question)) is not None:
            sources[-1] = short
            if short.n not in shortened:
                shortened.append(short.n)
        elif len(sources) > 1:
            sources.pop()
            dropped_sources += 1
        else:
            break
        tokens = size()
    if tokens > budget:
        question_tokens = count(question)
        raise QuestionTooLong(question_tokens, max(budget - (tokens - question_tokens), 0), len(question))
    shortened = [n for n in shortened if n <= len(sources)]  # a dropped source is not also counted as cut
    return Fitted(build_messages(system, sources, question, conversation(history, False)), sources, history, tokens,
                  False, dropped_turns, dropped_sources, shortened)
