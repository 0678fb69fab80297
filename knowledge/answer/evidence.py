"""Sentence-level evidence: the sentences of up to k retrieved chunks that answer the question, under the same
character budget as whole chunks (pure functions).

Whole-chunk selection (`prompt.select_passages`) gives the model the first few chunks, each trimmed to its most
relevant sentences; a multi-part question whose parts sit on two slides loses the part that ranked fourth. Here
every sentence of every retrieved chunk competes for the budget:

1. greedy coverage: repeatedly take the sentence that covers most question words not yet covered, weighted by
   its own overlap with the question and its chunk's retrieval score (so the parts of a question are each
   covered once, from wherever they are);
2. context: the budget left goes to the neighbours of the chosen sentences (the next line of a slide usually
   holds the value its heading announces), best chunks first, then to the rest of the chunks in retrieval order;
3. sources: the chosen sentences grouped by chunk, in their original order, chunks in retrieval order, numbered
   from 1 — each source still cites its file and page, slide or cell.

Measured on the dev set (docs/experiments/evidence.md) it puts as many key facts in the prompt as whole chunks
at the same budget, not more, so whole chunks stay the default (`COURSEBOT_ANSWER_EVIDENCE=chunks`).

A source's label counts against the budget too (more sources, fewer characters of text), so the prompt does not
grow with the number of chunks it draws from.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..retrieval import Hit
from ..text import content_words, split_sentences

COVER_WEIGHT = 2.0  # new question words covered, the main criterion
OVERLAP_WEIGHT = 1.0  # the sentence's own share of the question's words
RANK_WEIGHT = 0.5  # the chunk's retrieval score relative to the best (1.0 for the top chunk)
LABEL_COST = 8  # "[n] " + the line break and the blank line between sources, beside the label itself
MIN_SENTENCE = 12  # shorter lines (a slide number, a lone bullet) carry no evidence on their own


@dataclass
class Sentence:
    hit: int  # index of its chunk among the hits
    at: int  # index among its chunk's sentences
    text: str
    words: set[str]


def sentences_of(hits: list[Hit]) -> list[list[Sentence]]:
    """Each hit's sentences (lines of a slide count as sentences), with their content words."""
    return [[Sentence(h, i, s, content_words(s)) for i, s in enumerate(split_sentences(hit.text))]
            for h, hit in enumerate(hits)]


def _relative_scores(hits: list[Hit]) -> list[float]:
    best = max((h.score for h in hits), default=0.0)
    return [h.score / best if best > 0 else 1.0 / (i + 1) for i, h in enumerate(hits)]


def choose(hits: list[Hit], question: str, max_sources: int, budget: int) -> dict[int, set[int]]:
    """Which sentences of which hits make the evidence: {hit index: sentence indices}, within `budget` characters
    (sentence lengths plus each source's label) and `max_sources` chunks."""
    per_hit = sentences_of(hits)
    q = content_words(question) or {""}
    prior = _relative_scores(hits)
    chosen: dict[int, set[int]] = {}
    used = 0

    def cost(s: Sentence) -> int:
        label = 0 if s.hit in chosen else len(hits[s.hit].label) + LABEL_COST
        return len(s.text) + 1 + label

    def fits(s: Sentence) -> bool:
        if s.hit not in chosen and len(chosen) >= max_sources:
            return False
        return used + cost(s) <= budget

    def take(s: Sentence) -> None:
        nonlocal used
        used += cost(s)
        chosen.setdefault(s.hit, set()).add(s.at)

    # 1. greedy coverage of the question's words
    def value(s: Sentence, covered: set[str]) -> float:
        new = len((s.words & q) - covered) / len(q)
        own = len(s.words & q) / len(q)
        return COVER_WEIGHT * new + OVERLAP_WEIGHT * own + RANK_WEIGHT * prior[s.hit]

    covered: set[str] = set()
    candidates = [s for group in per_hit for s in group if len(s.text) >= MIN_SENTENCE and s.words & q]
    while candidates := [s for s in candidates if fits(s)]:
        best = max(candidates, key=lambda s: (value(s, covered), -s.hit, -s.at))
        if best.words & q <= covered:  # adds no question word: the context below fills the rest
            break
        take(best)
        covered |= best.words & q
        candidates.remove(best)
    if not chosen and per_hit and per_hit[0]:  # nothing shares a word (a question in another language): top chunk
        chosen[0] = set()
        used += len(hits[0].label) + LABEL_COST

    # 2. context: neighbours of the chosen sentences, next before previous, best chunks first, widening
    for distance in (1, 2):
        for h in sorted(chosen):
            group = per_hit[h]
            for i in sorted(chosen[h]):
                for j in (i + distance, i - distance):
                    if 0 <= j < len(group) and j not in chosen[h] and fits(group[j]):
                        take(group[j])
    # 3. the rest in retrieval order, as whole-chunk selection would: the chosen chunks' other sentences, then
    # the next chunks', each in its order
    for h in sorted(chosen) + [h for h in range(len(hits)) if h not in chosen]:
        for s in per_hit[h]:
            if s.at not in chosen.get(h, ()) and fits(s):
                take(s)
    return chosen


def render_evidence(hits: list[Hit], chosen: dict[int, set[int]]) -> list[tuple[Hit, str]]:
    """The chosen sentences as one text per chunk, in the chunk's order ('…' marks where sentences were left
    out), chunks in retrieval order."""
    per_hit = sentences_of(hits)
    out = []
    for h in sorted(chosen):
        if not chosen[h]:
            continue
        parts, last = [], -1
        for i in sorted(chosen[h]):
            if last >= 0 and i > last + 1:
                parts.append("…")
            parts.append(per_hit[h][i].text)
            last = i
        out.append((hits[h], "\n".join(parts)))
    return out
