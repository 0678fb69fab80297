"""Reading a chunk, and the phrase helpers every question form uses (pure functions).

A chunk's text is read into blocks (headings, prose paragraphs, bullets, code); `Candidate` is a question with
its answer copied from the chunk. The question forms built on them live in `adapters.questions` (chunk questions),
`adapters.slide_lists`, `adapters.near_misses` and `adapters.course_topics`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from knowledge.retrieval import Hit
from knowledge.text import content_words, fold


@dataclass(frozen=True)
class Candidate:
    question: str
    sentences: tuple[str, ...]  # the answer, one claim per sentence, without citation markers
    evidence: tuple[str, ...]  # chunk text the answer rests on (each must survive source trimming)
    kind: str  # definition | keyvalue | code | heading | fact | list | comparison | admin | offtopic | near_miss
    #   | counterpart | course_miss
    facts: tuple[str, ...] = ()  # key facts a correct answer contains (the held-out set's must_include)
    question_en: str = ""  # the same question as an English-speaking student asks it ("" = not asked in English)


@dataclass(frozen=True)
class Block:
    kind: str  # heading | prose | bullet | code
    text: str
    heading: str  # the heading the block falls under ("" before the first)


# -- reading a chunk -----------------------------------------------------------------------------------
_CODE = re.compile(r"^\s*(?:from \w[\w.]* import|import \w|def |class |return\b|print\(|for .+ in .+:|if .+:|"
                   r"[\w.\[\]'\", ]+\s*[+\-*/]?=\s*\S|[\w.]+\(.*\)\s*$|@\w|#)")
_FUNCTION_WORDS = {"el", "la", "los", "las", "de", "del", "que", "para", "por", "con", "en", "un", "una", "se",
                   "y", "es", "son", "al", "su", "sus", "si", "no", "the", "and", "of", "to", "is"}
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_SALIDA = re.compile(r"^#\s*(?:salida|output)\b", re.IGNORECASE)


def normalize(text: str) -> str:
    """Whitespace folded, markdown emphasis removed: how text compares across trimming and line wraps."""
    return " ".join(text.replace("**", "").replace("`", "").split())


def read_blocks(hit: Hit) -> list[Block]:
    """Headings (markdown or the chunk's section names), prose paragraphs (wrapped lines joined), bullets, code."""
    sections = {normalize(s).lower() for s in hit.section.split(" / ") if s.strip()}
    blocks: list[Block] = []
    heading, prose, in_output = "", [], False

    def flush():
        if prose:
            blocks.append(Block("prose", normalize(" ".join(prose)), heading))
            prose.clear()

    for line in hit.text.splitlines():
        bare = normalize(line.lstrip("#"))
        if not line.strip():
            flush()
            in_output = False
        elif bare.lower() in sections or (line.startswith("#") and bare.lower() in sections | {""}):
            flush()
            heading = bare
            blocks.append(Block("heading", bare, heading))
        elif in_output or _SALIDA.match(line.strip()):
            in_output = True  # a notebook cell's printed output: neither prose nor code to quote
        elif _BULLET.match(line):
            flush()
            blocks.append(Block("bullet", normalize(_BULLET.sub("", line)), heading))
        elif _CODE.match(line) and not line.startswith("# ") and not looks_like_prose(line):
            flush()
            blocks.append(Block("code", line.strip(), heading))
        else:
            prose.append(line)
    flush()
    return blocks


def looks_like_prose(line: str) -> bool:
    """A wrapped sentence that happens to contain 'x=1' is prose: it has the small words code lacks."""
    small = sum(1 for w in re.findall(r"[a-záéíóúñ]{2,}", line.lower()) if w in _FUNCTION_WORDS)
    return small >= 3 or (small >= 1 and line.rstrip().endswith(".") and "(" not in line)


# -- phrases: terms, sentences, document names ----------------------------------------------------------
_VAGUE = {"su", "sus", "este", "esta", "esto", "eso", "esa", "ese", "lo", "le", "ello", "otro", "otra", "cada",
          "todo", "toda", "nuestro", "nuestra", "mi", "tu", "aqui", "alli", "hoy", "que", "como"}
_DEICTIC = {"este", "esta", "estos", "estas", "ese", "esa", "esos", "esas", "dicho", "dicha", "anterior",
            "siguiente", "primera", "primer", "primero", "segunda", "segundo", "tercera", "tercero", "ultimo",
            "ultima", "cual", "cuales", "que", "si", "recomendado", "recomendada", "resultado", "dos", "tres",
            "cuatro", "cinco", "ambos", "ambas", "mas", "menos", "mejor", "peor"}
_PREPOSITIONS = {"a", "ante", "con", "de", "desde", "en", "entre", "hacia", "hasta", "para", "por", "segun", "sin",
                 "sobre", "tras"}
_TRAILING = _FUNCTION_WORDS | {"a", "o", "u", "e", "como", "cual", "sobre", "entre", "sin"}
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]+")
_CLASS_TITLE = re.compile(r"^(?:script\s+)?clase\s*_?(?P<n>\d+)\s*(?P<topic>.*)$", re.IGNORECASE)


def lower_first(phrase: str) -> str:
    """'Validación cruzada' → 'validación cruzada'; acronyms and names keep their case ('KNN', 'Ridge')."""
    first = phrase.split(" ", 1)[0]
    if len(first) > 1 and (first[1:].lower() != first[1:] or first.isupper()):
        return phrase
    return phrase[:1].lower() + phrase[1:]


def article(noun_phrase: str) -> str:
    """A guess at the Spanish article of a noun phrase (good enough for templates)."""
    word = fold(noun_phrase.split(" ", 1)[0])
    if word.endswith("as"):
        return "las"
    if word.endswith("s"):
        return "los"
    return "la" if word.endswith(("a", "ion", "dad", "tad", "tud", "umbre")) else "el"


def doc_name(hit: Hit, rng: random.Random | None = None) -> str:
    """The document as the materials title it, or (with `rng`, half the time) as a student says it:
    'Script Clase 8 Árboles y Ensambles' → 'el notebook de árboles y ensambles' or 'la clase 8'."""
    if not hit.title:
        return "el material"
    m = _CLASS_TITLE.match(hit.title.replace("_", " "))
    if rng is None or not m or rng.random() < 0.5:
        return f"«{hit.title}»"
    kind = "el notebook" if hit.file.endswith(".ipynb") else "las diapositivas"
    topic = lower_first(m.group("topic").strip())
    return f"{kind} de {topic}" if topic and rng.random() < 0.6 else f"la clase {int(m.group('n'))}"


def clean_heading(text: str) -> str:
    """A heading without emoji or markdown marks: '🎯 **Entropía**' → 'Entropía'."""
    return normalize(_EMOJI.sub("", text)).strip(" :#*-")


def good_term(term: str) -> bool:
    """A noun phrase worth asking about: 1–6 words, no deictic, counting or question word, not opening with a
    preposition ('en el mercado laboral') nor ending in a small word, parentheses closed."""
    words = fold(term).split()
    return (0 < len(words) <= 6 and not set(words) & _DEICTIC and words[-1] not in _TRAILING
            and words[0] not in _VAGUE | _PREPOSITIONS and not _NUMBER.search(term)
            and term.count("(") == term.count(")"))


def is_sentence(text: str) -> bool:
    """Prose a student can be told: starts with a capital, has the small words of Spanish, no code or markup."""
    t = text.strip()
    if len(t.split()) < 6 or not t[:1].isupper() or any(m in t for m in ("](", "<", ">", "{", "}", "==", "()")):
        return False
    if t.count("(") != t.count(")") or t.count('"') % 2 or re.search(r"\w=\S|\w\.\w+\(", t):
        return False
    return sum(1 for w in fold(t).split() if w in _FUNCTION_WORDS) >= 2


def key_facts(answer: str, question: str, n: int = 2) -> tuple[str, ...]:
    """Figures first, then long content words the question does not already contain."""
    asked = content_words(question)
    facts = [m for m in _NUMBER.findall(answer)]
    for word in sorted(re.findall(r"[\wáéíóúñü]{7,}", answer.lower()), key=len, reverse=True):
        if fold(word)[:6] not in asked and word not in facts:
            facts.append(word)
    return tuple(dict.fromkeys(facts))[:n]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text[-1:] in ".!?…" else text + "."
