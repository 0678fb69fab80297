"""Small text helpers shared by prompt building, citation attribution and abstention (pure functions)."""

from __future__ import annotations

import re
import unicodedata

# Weaviate's BM25 stopwords for the course collection (knowledge/store.py) and the words attribution ignores
STOPWORDS_ES = """a al algo algunas algunos ante antes como cómo con contra cual cuál cuales cuáles cuando
cuándo de del desde donde dónde durante e el él ella ellas ellos en entre era es esa esas ese eso esos esta
está están estas este esto estos fue fueron ha han hay la las le les lo los más mas me mi mis mucho muy
nada ni no nos o para pero poco por porque que qué quien quién se ser si sí sin sobre son su sus también
tan te tiene tienen todo todos tu tú un una unas uno unos y ya yo q pa xq""".split()
STOPWORDS_EN = """a an and are as at be by do does for from how i in is it of on or that the this to what
when where which who why with""".split()

_WORD = re.compile(r"[a-z0-9_]+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«¿¡(\[A-ZÁÉÍÓÚÑ0-9])|\n+")
STOP = {w for w in map(lambda s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode(),
                       STOPWORDS_ES + STOPWORDS_EN)} | {
    "son", "sus", "sobre", "puede", "pueden", "usa", "usan", "cual", "cuales", "the", "and", "hay", "esto",
    "fuente", "fuentes", "segun", "curso", "materiales", "clase"}
ENGLISH_HINTS = {"what", "how", "why", "which", "the", "is", "are", "does", "do", "can", "difference", "between",
                 "when", "where", "explain", "about"}


def fold(text: str) -> str:
    """Lowercase without accents."""
    return unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()


def content_words(text: str, stem: int = 6) -> set[str]:
    """Content words, accent-folded and cut to a crude stem (Spanish inflections share a prefix)."""
    return {w[:stem] for w in _WORD.findall(fold(text)) if (len(w) >= 3 or w.isdigit()) and w not in STOP}


def overlap(a: set[str], b: set[str]) -> float:
    """Share of a's words found in b."""
    return len(a & b) / len(a) if a else 0.0


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def detect_language(text: str) -> str:
    """'en' when the question reads as English, else 'es' (the course's language)."""
    words = _WORD.findall(fold(text))
    english = sum(1 for w in words if w in ENGLISH_HINTS)
    spanish = sum(1 for w in words if w in {"que", "como", "para", "por", "cual", "cuando", "donde", "es", "el",
                                            "la", "los", "las", "de", "del", "en", "un", "una", "se", "q", "pa"})
    return "en" if english > spanish else "es"
