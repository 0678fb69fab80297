"""Citations decided by the pipeline, not only by the model (pure functions).

The model's markers ([1], [1, 3], [1][2], 【2】, [fuente 2], [^1]…) are kept when they point to a
source it was given; markers pointing elsewhere are dropped. A sentence without a valid marker, or whose
marker names a source that does not hold it (a guessed number), is attributed to the retrieved source
sharing most of its content words, if any shares enough. Each
sentence gets a support score (share of its content words found in the sources it rests on): low
support is a hallucination signal used by `knowledge.answer.abstention`. Sources are renumbered in order of
first citation, and only sources that were retrieved can ever be cited: a "Fuentes:" list the model
writes itself (copied from a document, or invented) is dropped before attribution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..text import content_words, overlap, split_sentences
from .grounding import Claim

# One bracketed group: [1], [1,3], [1-2], [fuente 1], [Fuente 1, 2], [^1], 【1】, [[1]] (nested brackets)
MARKER = re.compile(
    r"[\[【［]+\s*(?:\^|fuentes?|source|sources|ref\.?)?\s*"
    r"(\d+(?:\s*(?:,|;|-|–|y|and|&)\s*(?:fuentes?\s*)?\d+)*)\s*[\]】］]+",
    re.IGNORECASE)
_NUMBER = re.compile(r"\d+")
_RANGE = re.compile(r"(\d+)\s*[-–]\s*(\d+)")
_EMPTY_BRACKETS = re.compile(r"\[\s*\]|【\s*】")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")
MIN_ATTRIBUTION = 0.3  # share of a sentence's content words a source must hold to be credited
# A source list the model writes itself: a "Fuentes:" line and the "[n] …" lines under it. The pipeline appends
# the real list, built from what was retrieved; a copied or invented one would name files that were not.
_SOURCES_HEADER = re.compile(r"^[ \t>*_#-]*(?:fuentes|sources|referencias|references)\b[ \t*_]*(?::.*)?$",
                             re.IGNORECASE)
_LIST_ENTRY = re.compile(r"^[ \t>*_•-]*[\[【［]\s*\d+\s*[\]】］]")


@dataclass
class Citation:
    n: int  # number shown to the student (order of first citation)
    source: int  # 1-based number of the source in the prompt


@dataclass
class Attributed:
    text: str  # the answer with markers renumbered and invalid ones removed
    citations: list[Citation] = field(default_factory=list)
    sentence_support: list[float] = field(default_factory=list)
    unsupported: int = 0  # sentences no source supports
    claims: list[Claim] = field(default_factory=list)  # each sentence and the prompt sources it rests on

    @property
    def support(self) -> float:
        """Mean support over sentences (0 when there is no sentence)."""
        return sum(self.sentence_support) / len(self.sentence_support) if self.sentence_support else 0.0


def parse_markers(text: str, n_sources: int) -> list[int]:
    """Valid source numbers cited in text, in order, without repeats."""
    found: list[int] = []
    for n in cited_numbers(text):
        if 1 <= n <= n_sources and n not in found:
            found.append(n)
    return found


def cited_numbers(text: str) -> list[int]:
    """Every number the markers in text name, in order, valid or not ([2-4] names 2, 3 and 4)."""
    return [n for m in MARKER.finditer(text) for n in _expand(m.group(1))]


def _expand(group: str) -> list[int]:
    numbers = []
    for part in re.split(r"\s*(?:,|;|y|and|&)\s*", group):
        r = _RANGE.search(part)
        if r and int(r.group(2)) - int(r.group(1)) < 10:
            numbers.extend(range(int(r.group(1)), int(r.group(2)) + 1))
        else:
            numbers.extend(int(x) for x in _NUMBER.findall(part))
    return numbers


def strip_markers(text: str) -> str:
    for _ in range(10):  # removing one marker can join brackets around it into another
        stripped = _EMPTY_BRACKETS.sub("", MARKER.sub("", text))
        if stripped == text:
            break
        text = stripped
    return _SPACE_BEFORE_PUNCT.sub(r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


def without_source_lists(text: str) -> str:
    """The answer without source lists of the model's own making (the rest of the text untouched)."""
    kept, in_list = [], False
    for line in text.split("\n"):
        if _SOURCES_HEADER.match(line):
            in_list = True
        elif not (in_list and (not line.strip() or _LIST_ENTRY.match(line))):
            in_list = False
            kept.append(line)
    return "\n".join(kept)


def attribute(answer: str, source_texts: list[str]) -> Attributed:
    """Decide what each sentence rests on and rewrite the markers accordingly."""
    source_words = [content_words(t) for t in source_texts]
    order: dict[int, int] = {}  # source number -> display number
    out_sentences, support, unsupported, claims = [], [], 0, []
    for sentence in split_sentences(answer):
        cited = parse_markers(sentence, len(source_texts))
        bare = strip_markers(sentence)
        words = content_words(bare)
        if not bare:
            continue
        if words:
            rest = set().union(*(source_words[n - 1] for n in cited)) if cited else set()
            s = overlap(words, rest)
            best = best_source(words, source_words) if s < MIN_ATTRIBUTION else None
            if best and (not cited or {w for w in words if w.isdigit()} <= source_words[best - 1]):
                # uncited, or the number given does not hold the sentence (a model guessing [3] for what [1]
                # says): credit the source that does, as a reader checking the sources would — when it also
                # holds the sentence's figures (a name shared with a source does not vouch for invented hours)
                cited = [best]
                s = overlap(words, source_words[best - 1])
            support.append(s)
            unsupported += s < MIN_ATTRIBUTION
        claims.append(Claim(bare, tuple(cited)))
        for n in cited:
            order.setdefault(n, len(order) + 1)
        marks = "".join(f"[{order[n]}]" for n in cited)
        out_sentences.append(_place_marks(bare, marks))
    citations = [Citation(display, source) for source, display in order.items()]
    return Attributed(" ".join(out_sentences).strip(), citations, support, unsupported, claims)


def best_source(words: set[str], source_words: list[set[str]]) -> int | None:
    """The number of the source holding most of a sentence's content words, when it holds enough of them."""
    scores = [overlap(words, sw) for sw in source_words]
    if not scores:
        return None
    best = max(range(len(scores)), key=scores.__getitem__)
    return best + 1 if scores[best] >= MIN_ATTRIBUTION and len(words & source_words[best]) >= 2 else None


def _place_marks(sentence: str, marks: str) -> str:
    """Put markers before the sentence's final punctuation: 'Texto [1].'"""
    if not marks:
        return sentence
    if sentence and sentence[-1] in ".!?…:":
        return f"{sentence[:-1].rstrip()} {marks}{sentence[-1]}"
    return f"{sentence} {marks}"
