"""Deciding to decline (pure functions): the pipeline, not the untuned model, is the judge.

Signals: the model's own decline, how much of its answer the sources support (`knowledge.answer.grounding`:
what each sentence adds beyond the question, its figures and names, the question's premise; or, with
`check="overlap"`, the earlier content-word overlap of whole sentences), and retrieval strength (cosine
similarity of the best chunk to the question).
Thresholds live in settings and were calibrated on the dev set (see `coursebot eval`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..retrieval import Hit

_DECLINE = re.compile(
    r"no (?:encuentro|encontr[ée]|hay|tengo|se (?:menciona|encuentra|especifica|indica)|aparece|"
    r"contienen?|incluyen?|proporcionan?|dispongo)\b.{0,60}\b(?:informaci[óo]n|fuentes?|materiales?|datos|"
    r"respuesta|menci[óo]n)|las fuentes no|los materiales no|no puedo (?:responder|ayudarte|encontrar)|"
    r"not (?:find|found|contain|mention)|no information|(?:don't|do not|cannot|can't) (?:find|answer|know)",
    re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Thresholds:
    min_support: float = 0.30  # mean share of answer content words found in the cited sources
    min_similarity: float = 0.80  # cosine similarity of the best chunk to the question
    check: str = "grounded"  # "grounded" (knowledge.answer.grounding) | "overlap" (whole-sentence word overlap)


@dataclass(frozen=True)
class Decision:
    abstain: bool
    reason: str  # "model_declined" | "unsupported" | "uncited" | "weak_retrieval" | "no_sources" | "prompt_leak" |
    #              "echo" | "unverified_premise" | "unsupported_figure" (knowledge.answer.grounding) | ""


def model_declined(answer: str) -> bool:
    return bool(_DECLINE.search(answer))


def decide(answer: str, support: float, top_similarity: float | None, n_sources: int,
           thresholds: Thresholds, cited: bool = True, grounding: str = "") -> Decision:
    """Decline or answer. `cited`: the attributed answer cites at least one source — an answer that cites
    nothing is never shown, since a student could not check it. `grounding`: what the answer check found
    wrong (`knowledge.answer.grounding.Grounding.reason`), if anything."""
    if n_sources == 0:
        return Decision(True, "no_sources")
    if model_declined(answer):
        return Decision(True, "model_declined")
    if top_similarity is not None and top_similarity < thresholds.min_similarity:
        return Decision(True, "weak_retrieval")
    if grounding in ("echo", "unverified_premise"):
        return Decision(True, grounding)
    if support < thresholds.min_support:
        return Decision(True, "unsupported")
    if grounding:
        return Decision(True, grounding)
    if not cited:
        return Decision(True, "uncited")
    return Decision(False, "")


def decline_message(hits: list[Hit], language: str = "es") -> str:
    """A helpful decline: what nearby topics the materials do cover, and whom to ask."""
    nearby, seen = [], set()
    for h in hits[:4]:
        topic = h.section or h.title
        key = (h.title, topic)
        if topic and key not in seen:
            seen.add(key)
            nearby.append(f"«{topic}» ({h.label})" if topic != h.title else h.label)
    if language == "en":
        text = "I can't find that in the course materials."
        if nearby:
            text += " The closest topics they cover are: " + "; ".join(nearby[:3]) + "."
        return text + " You can ask the course staff with the “Preguntar al equipo” button."
    text = "No encuentro esa información en los materiales del curso."
    if nearby:
        text += " Lo más cercano que cubren es: " + "; ".join(nearby[:3]) + "."
    return text + " Si crees que debería estar, pregúntale al equipo docente (botón «Preguntar al equipo»)."
