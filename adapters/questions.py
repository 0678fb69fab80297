"""Questions and answers from a chunk, offline: templates and extractive heuristics (pure functions).

A chunk's text is read into blocks (headings, prose paragraphs, bullets, code). From them come:
definitions ("X es …" → "¿Qué es X?"), labelled bullets ("Horario de atención: …" → "¿Cuál es el horario
de atención?"), literal code arguments ("n_neighbors=5" → "¿Qué n_neighbors se usa en …?"), the key sentences
under a heading, and sentences holding figures. Every answer is copied from the chunk, so it is true to the
source; `evidence` is the part of the chunk that must still be shown to the model for the answer to stand.
Questions are asked in the course's register and as students type them (documents named "la clase 8" or "el
notebook de árboles"); what is not a sentence a student can be told (notebook output, code, markup, vague
terms such as "el resultado de estas comparaciones") is not asked about.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from knowledge.retrieval import Hit
from knowledge.text import fold, split_sentences

from .chunks import (
    _NUMBER,
    _TRAILING,
    Block,
    Candidate,
    _sentence,
    article,
    clean_heading,
    doc_name,
    good_term,
    is_sentence,
    key_facts,
    lower_first,
    read_blocks,
)
from .slide_lists import slide_lists

# -- question forms ------------------------------------------------------------------------------------
_DEFINITION = re.compile(
    r"^(?P<term>(?:(?:el|la|los|las|un|una)\s+)?[\wáéíóúñü()\-/ ]{3,60}?)\s+"
    r"(?P<verb>es|son|se define como|consiste en|significa|sirve para|se usa para)\s+(?P<rest>.{12,})$",
    re.IGNORECASE)
_DEFINITION_QUESTIONS = {"es": "¿Qué es {t}?", "son": "¿Qué son {t}?", "se define como": "¿Cómo se define {t}?",
                         "consiste en": "¿En qué consiste {t}?", "significa": "¿Qué significa {t}?",
                         "sirve para": "¿Para qué sirve {t}?", "se usa para": "¿Para qué se usa {t}?"}
_KEYVALUE = re.compile(r"^(?P<label>[^:]{3,60}?):\s*(?P<value>\S.{1,300})$")
_KWARG = re.compile(r"\b(?P<name>[a-z_][a-z0-9_]{2,})=(?P<value>[\w.'\"-]{1,30})(?=[,)\s])")
_SKIP_KWARGS = {"self", "axis", "inplace", "figsize", "color", "label", "fontsize", "verbose", "alpha", "marker",
                "loc", "share", "placeholder", "value", "minimum", "maximum", "step", "title", "name", "lines",
                "scale", "bins", "edgecolor", "linestyle", "linewidth", "rotation", "ha", "va", "fmt", "cmap",
                "annot", "palette", "hue", "kind", "s", "width", "height", "dpi", "interactive", "debug"}
_LITERAL = re.compile(r"^(?:-?\d+(?:\.\d+)?(?:e-?\d+)?|True|False|None|'[^']{1,25}'|\"[^\"]{1,25}\")$")
_HEADING_QUESTIONS = ("¿Qué explican los materiales sobre «{h}»?", "Explícame «{h}».",
                      "¿Qué dice {doc} en «{h}»?", "¿Qué se ve en el curso sobre «{h}»?",
                      "me explicas {hl}?", "de qué trata lo de {hl} en {doc}?", "qué se dice de {hl}?")
_FACT_QUESTIONS = ("¿Qué datos concretos da {doc} sobre «{h}»?", "¿Qué valores se mencionan en «{h}»?",
                   "qué resultados salen en {doc} sobre {hl}?", "¿Qué cifras da {doc} sobre {hl}?")
_CODE_QUESTIONS = ("¿Qué {name} se usa en {doc}?", "qué valor de {name} usan en {doc}?",
                   "con qué {name} trabajan en {doc}?", "¿Cuánto vale {name} en {doc}?")
_DEFINITION_EN = ("What is {t}?", "what does {t} mean?", "Can you explain what {t} is?")
_HEADING_EN = ("What do the course materials say about «{h}»?", "can you explain {hl}?",
               "What does {doc} cover in «{h}»?")
_FACT_EN = ("What figures does {doc} give about «{h}»?", "what numbers come up for {hl}?")
_CODE_EN = ("Which {name} does {doc} use?", "what value of {name} is used in {doc}?")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")


def defined(sentence: str) -> tuple[str, str, str] | None:
    """'El sobreajuste es cuando …' → ('el sobreajuste', 'es', 'cuando …'): a definition worth asking about."""
    m = _DEFINITION.match(sentence.rstrip("."))
    if not m or len(sentence) > 320:
        return None
    term = lower_first(m.group("term").strip())
    if not good_term(term) or not is_sentence(sentence):
        return None
    return term, m.group("verb").lower(), m.group("rest")




def defining_sentences(blocks: list[Block]) -> Iterator[tuple[str, str, str, str]]:
    """(sentence, term, verb, rest) for each prose sentence that defines a term, in order."""
    for block in (b for b in blocks if b.kind == "prose"):
        for sentence in split_sentences(block.text):
            if d := defined(sentence):
                yield sentence, *d


def states_value(verb: str, rest: str) -> bool:
    """'el valor de k es 5', 'los pesos son 0.3 y 0.7': a value, not a concept (asked '¿Cuál es…?')."""
    return verb in ("es", "son") and _NUMBER.search(rest[:40]) is not None


def definitions(blocks: list[Block]) -> list[Candidate]:
    out = []
    for sentence, term, verb, rest in defining_sentences(blocks):
        value = states_value(verb, rest)
        form = ("¿Cuál es {t}?" if verb == "es" else "¿Cuáles son {t}?") if value else _DEFINITION_QUESTIONS[verb]
        question = form.format(t=term)
        english = "" if value else _DEFINITION_EN[len(out) % 3].format(t=term)
        out.append(Candidate(question, (_sentence(sentence),), (sentence,), "definition",
                             key_facts(rest, question), english))
    return out


def labelled_bullets(blocks: list[Block], hit: Hit) -> list[Candidate]:
    out = []
    for block in (b for b in blocks if b.kind == "bullet"):
        m = _KEYVALUE.match(block.text)
        if not m:
            continue
        label, value = lower_first(m.group("label").strip()), m.group("value").strip().rstrip(".")
        evidence, value = value, _LINK.sub(r"\1", value)  # '[Camilo Vega](https://…)' is said 'Camilo Vega'
        if not good_term(label) or len(value.split()) > 40 or any(c in value for c in "{}<>"):
            continue
        art = "" if label[:1].isupper() else article(label)  # a name ('Matplotlib') takes no article
        if not art:
            question = f"¿Qué es {label}?" if len(out) % 2 == 0 else f"¿Qué dice {doc_name(hit)} sobre {label}?"
            facts = key_facts(value, question)
            out.append(Candidate(question, (f"{label}: {value}.",), (evidence,), "keyvalue", facts))
            continue
        verb = "son" if art in ("los", "las") else "es"
        if "%" in value and block.heading:  # a weight in a grading scheme: say what it is a share of
            vale = "valen" if verb == "son" else "vale"
            question = f"¿Cuánto {vale} {art} {label} en «{block.heading}»?"
            answer = f"En «{block.heading}», {art} {label} {vale} {value}."
        elif len(out) % 2 == 0:
            question = f"¿Cuál{'es' if verb == 'son' else ''} {verb} {art} {label}?"
            answer = f"{art.capitalize()} {label} {verb}: {value}."
        else:
            question = f"¿Qué dice {doc_name(hit)} sobre {art} {label}?"
            answer = f"{art.capitalize()} {label} {verb}: {value}."
        if value[:1].isupper() and len(value.split()) > 6:  # the value is a sentence of its own
            answer = f"Sobre {art} {label}: {value}."
        out.append(Candidate(question, (answer,), (evidence,), "keyvalue", key_facts(value, question)))
    return out


def code_arguments(blocks: list[Block], hit: Hit, rng: random.Random) -> list[Candidate]:
    """Literal keyword arguments (numbers, short strings, booleans) set once in the chunk: 'n_neighbors=5'."""
    code = " ".join(b.text for b in blocks if b.kind == "code")
    out, seen = [], set()
    for block in (b for b in blocks if b.kind == "code"):
        for m in _KWARG.finditer(block.text):
            name, value = m.group("name"), m.group("value")
            if name in _SKIP_KWARGS or name in seen or not _LITERAL.match(value) or code.count(f"{name}=") > 1:
                continue
            seen.add(name)
            question = rng.choice(_CODE_QUESTIONS).format(name=name, doc=doc_name(hit, rng))
            answer = f"En {doc_name(hit)} se usa {name}={value}."
            english = rng.choice(_CODE_EN).format(name=name, doc=doc_name(hit))
            out.append(Candidate(question, (answer,), (f"{name}={value}",), "code", (value.strip("'\""),), english))
    return out


def heading_summaries(blocks: list[Block], hit: Hit, rng: random.Random) -> list[Candidate]:
    """The first one or two sentences under each heading; a heading that is itself a question is asked as is."""
    out = []
    for i, block in enumerate(blocks):
        if block.kind != "heading" or i + 1 >= len(blocks) or blocks[i + 1].kind != "prose":
            continue
        sentences = [s for s in split_sentences(blocks[i + 1].text) if not s.endswith(":")]
        keep = sentences[:1] + [s for s in sentences[1:2] if len(sentences[0]) + len(s) < 320 and is_sentence(s)]
        if not keep or not is_sentence(keep[0]):  # a title slide's subtitle is not an explanation
            continue
        h = clean_heading(block.text)
        if h.startswith("¿") and h.endswith("?") and len(h.split()) >= 4:
            question = h
        elif len(h.split()) < 2 or fold(h).split()[-1] in _TRAILING or h.endswith("?"):
            continue  # 'Fundamentos de', '¿Vale la pena?': not something to ask about on its own
        else:
            question = rng.choice(_HEADING_QUESTIONS).format(h=h, hl=lower_first(h), doc=doc_name(hit, rng))
        answer = tuple(_sentence(s) for s in keep)
        english = "" if h.startswith("¿") else rng.choice(_HEADING_EN).format(h=h, hl=lower_first(h),
                                                                               doc=doc_name(hit))
        out.append(Candidate(question, answer, tuple(keep), "heading", key_facts(" ".join(keep), question),
                             english))
    return out


def figure_sentences(blocks: list[Block], hit: Hit, rng: random.Random) -> list[Candidate]:
    out = []
    for block in (b for b in blocks if b.kind == "prose"):
        for sentence in split_sentences(block.text):
            if _NUMBER.search(sentence) and 30 <= len(sentence) <= 320 and is_sentence(sentence):
                h = clean_heading(block.heading or hit.section.split(" / ")[0] or hit.title)
                if not h:
                    continue
                question = rng.choice(_FACT_QUESTIONS).format(h=h, hl=lower_first(h), doc=doc_name(hit, rng))
                english = rng.choice(_FACT_EN).format(h=h, hl=lower_first(h), doc=doc_name(hit))
                out.append(Candidate(question, (_sentence(sentence),), (sentence,), "fact",
                                     key_facts(sentence, question), english))
    return out



def candidates(hit: Hit, rng: random.Random, limit: int) -> list[Candidate]:
    """Up to `limit` questions for a chunk, one of each kind in turn (the most specific kinds first), no question
    or evidence twice: a notebook cell full of arguments still yields its explanation, not three `x=` questions."""
    blocks = read_blocks(hit)
    pools = [definitions(blocks), labelled_bullets(blocks, hit), code_arguments(blocks, hit, rng),
             heading_summaries(blocks, hit, rng), figure_sentences(blocks, hit, rng), slide_lists(hit, rng)]
    for pool in pools:
        rng.shuffle(pool)
    out, asked, used = [], set(), set()
    while len(out) < limit and any(pools):
        for pool in (p for p in pools if p):
            c = pool.pop(0)
            key = fold(c.question)
            if key in asked or c.evidence in used or len(out) >= limit:
                continue
            asked.add(key)
            used.add(c.evidence)
            out.append(c)
    return out


def informal(question: str, rng: random.Random) -> str:
    """How students type on a phone: no opening ¿, lower case, often no accents or '?', 'q' for 'qué'."""
    q = question.replace("¿", "").replace("«", "").replace("»", "")
    q = q[:1].lower() + q[1:]
    if rng.random() < 0.6:
        q = fold(q)
    if rng.random() < 0.3:
        q = re.sub(r"^(?:qu[eé])\b", "q", q)
    if rng.random() < 0.5:
        q = q.rstrip("?.")
    return q

