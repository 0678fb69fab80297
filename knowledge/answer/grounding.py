"""The answer check (pure functions): what an answer claims beyond the question must be in what it cites.

Word overlap between an answer and its sources is fooled by echoes: retrieval put the question's words in the
sources, so an answer that restates the question ("El número de componentes seleccionados por PCA es [1].")
overlaps them well and supports nothing. This check looks only at what each sentence adds:

- **support** of a sentence is the share of the content words it adds beyond the question (and beyond words that
  only frame an answer: "número", "valor", "se refiere"…) found in the sources it cites; a sentence that adds
  nothing is an echo and supports nothing; an answer made only of echoes is declined (`echo`);
- **figures and names**: every number, and every capitalised name or acronym, that the question does not give
  must appear in a source the sentence cites (`unsupported_figure`) — an invented "salón 1500" or "120 capas"
  does not pass because the sentence around it borrows the question's words;
- **premise**: a number the question states ("¿el primer parcial vale 30%?") that no source in the prompt holds
  is an unverified premise; an answer that repeats it or agrees with it ("Sí, …") is declined
  (`unverified_premise`) instead of confirming what the materials never say. So is a "Sí" to a question about
  something no source names ("¿hay supletorio?" when no source says "supletorio").

`knowledge.answer.citations.attribute` decides which sources each sentence cites; `check` reads its claims.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..text import content_words, fold, overlap

# Words that frame an answer rather than state its content (accent-folded, cut to content_words' 6-letter stems)
FRAME = content_words("""número cantidad valor valores respuesta pregunta información indica indican menciona
    mencionan dice siguiente siguientes refiere define definen significa consiste consisten utiliza utilizan usado
    usada usados usadas utilizado utilizada encuentra encuentran llama llaman trata tratan describe describen
    explica explican muestra muestran corresponde seleccionado seleccionados específicamente principalmente
    number value answer refers means uses used""")
_NUMBER = re.compile(r"(?<![a-z])\d+(?:[.,]\d+)?")
_ENUMERATOR = re.compile(r"^\s*(?:[-*•]\s*)?\d{1,2}[.)](?:\s+|$)")  # "1. " / "2) " starting a list item
_NAME = re.compile(r"(?<![\w.])([A-ZÁÉÍÓÚÑ][\wáéíóúñü]*[A-ZÁÉÍÓÚÑ0-9][\w-]*|[A-ZÁÉÍÓÚÑ][a-záéíóúñü]{2,})")
_AGREES = re.compile(r"^\s*[¡¿\"'«(]*\s*(?:s[ií]|yes|correcto|exacto|efectivamente|as[ií] es|en efecto)\b",
                     re.IGNORECASE)
_SPELLED = {"cero": "0", "uno": "1", "dos": "2", "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6", "siete": "7",
            "ocho": "8", "nueve": "9", "diez": "10", "doce": "12", "veinte": "20", "cien": "100"}
# A number right after one of these names a thing ("el parcial 2", "semana 4", "Clase 29"), it states no value
_REFERENCE = re.compile(r"\b(?:parcial(?:es)?|semanas?|clases?|quiz|quices|quizzes|talleres|taller|cap[ií]tulos?|"
                        r"bloques?|temas?|unidad(?:es)?|ejercicios?|puntos?|preguntas?|notebooks?|laboratorios?|labs?|"
                        r"sesi[oó]n(?:es)?|cortes?|grupos?|entregas?|diapositivas?|diapos?|slides?|p[aá]g(?:ina)?s?\.?|"
                        r"celdas?|cells?|weeks?|lectures?|pasos?|steps?|versi[oó]n|v)\s*(?:n[°ºo.]\s*)?(\d+)\b",
                        re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Claim:
    """One sentence of an answer (markers stripped) and the prompt sources (1-based) it rests on."""

    text: str
    cited: tuple[int, ...]


@dataclass(frozen=True)
class Grounding:
    support: float  # mean support of the sentences that add something (0 when none does)
    reason: str  # "echo" | "unverified_premise" | "unsupported_figure" | "" (nothing wrong found)
    detail: str = ""  # what was wrong: the figures or names not found, the premise not found


def figures(text: str, source: bool = False) -> set[str]:
    """The values a claim states: its numbers, normalised ("95,94" → "95.94"), except those naming a thing
    ("parcial 2"). A `source` vouches for every number it holds, and for small ones written as words ("dos
    capas" for "2 capas")."""
    folded = fold(text)
    if not source:
        return {_normal(m) for m in _NUMBER.findall(_REFERENCE.sub(" ", folded))}
    return {_normal(m) for m in _NUMBER.findall(folded)} | {
        d for w, d in _SPELLED.items() if re.search(rf"\b{w}\b", folded)}


def _normal(number: str) -> str:
    whole, _, fraction = number.replace(",", ".").partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def names(text: str) -> set[str]:
    """Capitalised names and acronyms not at the start of the text (a sentence's first word is capitalised
    anyway), as content-word stems."""
    body = _PARENTHESES.sub(" ", _ENUMERATOR.sub("", text)).lstrip(" ¿¡\"'«*")  # "(Area Under the Curve)" glosses
    first = re.match(r"\S+", body)
    start = first.end() if first else 0
    return {w for m in _NAME.finditer(body, start) for w in content_words(m.group(1)) if not w.isdigit()}


def check(question: str, claims: list[Claim], source_texts: list[str]) -> Grounding:
    """What the answer adds beyond the question, checked against the sources each sentence cites."""
    asked = content_words(question) | FRAME
    asked_figures = figures(question)
    source_words = [content_words(t) for t in source_texts]
    source_figures = [figures(t, source=True) for t in source_texts]
    in_prompt = set().union(*source_figures) if source_figures else set()

    supports, missing = [], []
    for claim in claims:
        body = _ENUMERATOR.sub("", claim.text)
        rests_on = [n for n in claim.cited if 1 <= n <= len(source_texts)] or range(1, len(source_texts) + 1)
        words = set().union(*(source_words[n - 1] for n in rests_on)) if source_texts else set()
        numbers = set().union(*(source_figures[n - 1] for n in rests_on)) if source_texts else set()
        added = content_words(body) - asked
        if added:
            supports.append(overlap(added, words))
        missing += sorted(f for f in figures(body) - asked_figures if f not in numbers)
        missing += sorted(n for n in names(body) - asked if n not in words)

    support = sum(supports) / len(supports) if supports else 0.0
    answer = " ".join(c.text for c in claims)
    agrees = bool(claims and _AGREES.match(claims[0].text))
    premise = sorted(asked_figures - in_prompt)  # a value the question states that no source holds
    if premise and (agrees or set(premise) & figures(answer)):
        return Grounding(support, "unverified_premise", ", ".join(premise))
    in_sources = set().union(*source_words) if source_words else set()
    unknown = sorted(w for w in content_words(question) - FRAME - in_sources  # what a yes/no question is about
                     if len(w) >= 5 or w in names(" " + question))
    if unknown and agrees:
        return Grounding(support, "unverified_premise", ", ".join(unknown))
    if claims and not supports:
        return Grounding(0.0, "echo")
    if missing:
        return Grounding(support, "unsupported_figure", ", ".join(dict.fromkeys(missing)))
    return Grounding(support, "")
