"""One training example (pure): a question, the sources shown for it (the gold among distractors, or none that
answer it) in the pipeline's own prompt, and the answer — cited sentences copied from the gold, or the refusal."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from knowledge.answer.prompt import DECLINE_SENTENCE, Passage, PromptShape, build_messages
from knowledge.retrieval import Hit
from knowledge.text import content_words, overlap

from .chunks import Candidate, normalize


def cite(sentence: str, n: int) -> str:
    """'Texto.' → 'Texto [n].' (where the pipeline puts markers, see knowledge.answer.citations)."""
    sentence = sentence.strip()
    if sentence[-1:] in ".!?…:":
        return f"{sentence[:-1].rstrip()} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]"


def same_chunk(a: Hit, b: Hit) -> bool:
    return a.node_id == b.node_id or (a.file == b.file and a.text == b.text)


def holds(text: str, evidence: str) -> bool:
    """The evidence is still in the text (after trimming and line wrapping)."""
    return normalize(evidence) in normalize(text)


def gold_ref(hit: Hit) -> dict:
    """A chunk as an evaluation gold source: {"file"} plus its first page/slide/cell."""
    return {"file": hit.file, hit.loc_kind: hit.loc_start} if hit.loc_kind else {"file": hit.file}


def record(question: str, kind: str, type_: str, shape: PromptShape, sources: list[Passage], answer: str,
           gold_source: int | None, gold: Hit | None) -> dict:
    messages = build_messages(shape.system, sources, question)
    messages.append({"role": "assistant", "content": answer})
    key = f"{question}\x00{kind}\x00{gold.node_id if gold else ''}"
    return {"id": hashlib.sha256(key.encode()).hexdigest()[:12], "kind": kind, "type": type_,
            "question": question, "messages": messages, "gold_source": gold_source,
            "gold": [gold_ref(gold)] if gold else [], "chunk": gold.node_id if gold else ""}


ENGLISH_LEAD = "According to the course materials (in Spanish):"


def answer_example(question: str, cand: Candidate, gold: Hit, hits: list[Hit], shape: PromptShape,
                   position: int, lead: str = "") -> dict | None:
    """Gold among distractors at `position` (then first, if trimming cut the evidence); the answer cites it.
    `lead` opens the answer (an English question is answered in English words around the Spanish quote)."""
    others = [h for h in hits if not same_chunk(h, gold) and not any(holds(h.text, e) for e in cand.evidence)]
    for p in dict.fromkeys((min(position, len(others)), 0)):
        sources = shape.passages(others[:p] + [gold] + others[p:], question)
        for s in sources:
            if same_chunk(s.hit, gold) and all(holds(s.text, e) for e in cand.evidence):
                cited = [cite(sentence, s.n) for sentence in cand.sentences]
                answer = " ".join([lead, *cited] if lead else cited)
                return record(question, "answer", cand.kind, shape, sources, answer, s.n, gold)
    return None


def decline_example(question: str, type_: str, hits: list[Hit], shape: PromptShape,
                    exclude: Callable[[Hit], bool] = lambda h: False) -> dict | None:
    """Sources without the answer; the answer is the pipeline's refusal, citing nothing."""
    sources = shape.passages([h for h in hits if not exclude(h)], question)
    if not sources:
        return None  # the pipeline declines without asking the model: nothing to learn
    return record(question, "decline", type_, shape, sources, DECLINE_SENTENCE, None, None)


def answers_it(cand: Candidate, gold: Hit, max_overlap: float) -> Callable[[Hit], bool]:
    """A predicate, true for chunks that could answer: the gold, any chunk holding the evidence or `max_overlap`
    of the answer's words (DatasetConfig.decline_overlap; lower keeps only chunks clearly about something else
    in the refusal's sources)."""
    words = content_words(" ".join(cand.sentences))

    def could_answer(h: Hit) -> bool:
        return (same_chunk(h, gold) or any(holds(h.text, e) for e in cand.evidence)
                or overlap(words, content_words(h.text)) >= max_overlap)
    return could_answer
