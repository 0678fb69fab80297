"""Questions about lists on slides ("Ventajas:" and its items) and comparisons of two things side by side
(pure functions): answers read the items back, one sentence per list."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from knowledge.retrieval import Hit
from knowledge.text import fold

from .chunks import (
    _BULLET,
    _CODE,
    _EMOJI,
    _SALIDA,
    _TRAILING,
    Candidate,
    article,
    clean_heading,
    doc_name,
    good_term,
    key_facts,
    looks_like_prose,
    lower_first,
    normalize,
)


# -- lists on slides: "Ventajas:" and its items, per group ("Fine-Tuning", "RAG") ------------------------
@dataclass(frozen=True)
class ItemList:
    group: str  # what the list is about ('Fine-Tuning'); "" when the slide names no group
    label: str  # 'Ventajas', 'Ideal para'
    items: tuple[str, ...]


_LIST_LABEL = re.compile(r"^(?P<label>[^:]{3,50}):$")
_INLINE_LABEL = re.compile(r"^[^:]{2,40}:\s+\S")  # 'Objetivo: Predecir un número' is a fact, not a list item
_GROUP = re.compile(r"^[\w áéíóúñüÁÉÍÓÚÑÜ()+\-/&]+$")  # 'Fine-Tuning', 'Regresión Lasso (L1)'
_NOT_LISTS = {"salida", "output", "parametros", "parameters", "retorna", "returns", "args", "raises", "ejemplo"}
_VS = re.compile(r"^(?:[^:]*:\s*)?(?P<a>[^:]{2,40}?)\s+vs\.?\s+(?P<b>[^:]{2,40})$", re.IGNORECASE)
_ADJECTIVES = {"ideal", "util", "utiles", "ideales", "adecuado", "adecuada", "recomendado", "recomendada", "bueno",
               "mejor", "apropiado", "apropiada", "clave", "esencial", "necesario", "necesaria"}
_LIST_QUESTIONS = ("¿Cuáles son {art} {label} de {g}?", "qué {label} tiene {g}?", "¿Qué {label} menciona {doc} de {g}?")
_UNGROUPED_QUESTIONS = ("¿Qué dicen los materiales sobre «{label}» en «{h}»?", "¿Qué se ve sobre «{label}» en {doc}?",
                        "qué dice {doc} de {ll} en {hl}?", "explícame {ll} en {hl}")
_PURPOSE_QUESTIONS = ("¿Para qué {verb} {g}?", "para que {verb} {g} segun {doc}?")
_COMPARE_QUESTIONS = ("¿Qué diferencia hay entre {a} y {b}?", "diferencia entre {a} y {b}",
                      "¿Cuándo conviene usar {a} y cuándo {b}?", "{a} vs {b}, en qué se diferencian?",
                      "¿En qué se diferencian {a} y {b} según {doc}?")
_COMPARE_EN = ("What's the difference between {a} and {b}?", "When should I use {a} and when {b}?",
               "{a} vs {b}: how do they compare?")


def logical_lines(hit: Hit) -> list[str]:
    """The chunk's lines without bullets or markup, PDF wraps undone (a line in lower case continues the last)."""
    out: list[str] = []
    in_output = False
    for raw in hit.text.splitlines():
        line = normalize(_BULLET.sub("", raw.lstrip("#")))
        in_output = bool(line) and (in_output or bool(_SALIDA.match(raw.strip())))
        if in_output or "\x1b" in line or "━" in line:
            line = ""  # a notebook cell's printed output is not the course speaking
        if out and out[-1] and line[:1].islower() and not _BULLET.match(raw) and out[-1][-1:] not in ".:;!?":
            out[-1] = f"{out[-1]} {line}"
        else:
            out.append(line)
    return out


def is_item(line: str) -> bool:
    """A list item on a slide: a short phrase, not a label, not code, not cut mid-phrase."""
    words = line.split()
    return (0 < len(words) <= 16 and re.search(r"[A-Za-zÁÉÍÓÚáéíóúñ]{2}", line) is not None
            and not line.endswith(":") and not any(c in line for c in "{}<>=¿") and "--" not in line
            and not _INLINE_LABEL.match(line) and not re.search(r"\d\.\d{3,}", line) and not _EMOJI.search(line)
            and fold(words[-1]) not in _TRAILING and not (_CODE.match(line) and not looks_like_prose(line)))


def item_lists(hit: Hit) -> list[ItemList]:
    """Labelled lists ('Ventajas:' then its items), each with the group named on the line above its label."""
    lines, sections = logical_lines(hit), {normalize(s).lower() for s in hit.section.split(" / ") if s.strip()}
    out, group, used, first, i = [], "", set(), "", 0
    while i < len(lines):
        m = _LIST_LABEL.match(lines[i])
        if not m or len(lines[i].split()) > 6:
            i += 1
            continue
        g = i - 1
        while g >= 0 and _INLINE_LABEL.match(lines[g]):  # 'Regresión', 'Objetivo: …', 'Ejemplos:'
            g -= 1
        prev = lines[g] if g >= 0 else ""
        if (g not in used and is_item(prev) and len(prev.split()) <= 4 and prev.lower() not in sections
                and _GROUP.match(prev)):
            group, first = prev, ""
        label = clean_heading(m.group("label"))
        first = first or fold(label)
        items, j = [], i + 1
        while j < len(lines) and is_item(lines[j]) and not names_a_group(lines, j, first, group):
            items.append(lines[j])
            used.add(j)
            j += 1
        if 2 <= len(items) <= 8 and label and fold(label) not in _NOT_LISTS:
            out.append(ItemList(group, label, tuple(items)))
        i = max(j, i + 1)
    return out


def names_a_group(lines: list[str], j: int, first: str, group: str) -> bool:
    """Line j names the next group: a label follows it (past 'Objetivo: …' lines) that is the group's first
    label again ('RAG' before a second 'Ventajas:'), or the line reads like the group's name ('Regresión Lasso
    (L1)' after 'Regresión Ridge (L2)'); an item before the group's next label ('Desventajas:') is an item."""
    k = j + 1
    while k < len(lines) and _INLINE_LABEL.match(lines[k]):
        k += 1
    m = _LIST_LABEL.match(lines[k]) if k < len(lines) else None
    if m is None or not _GROUP.match(lines[j]):
        return False
    same_kind = bool(group) and fold(lines[j]).split()[0] == fold(group).split()[0]
    return fold(clean_heading(m.group("label"))) == first or same_kind


def noun_label(label: str) -> bool:
    """'ventajas', 'casos de uso': a label that reads 'las ventajas de X'."""
    return good_term(label) and len(label.split()) <= 3 and fold(label.split()[0]) not in _TRAILING | {"para"}


def join_items(items: tuple[str, ...]) -> str:
    """'a', 'b', 'c' → 'a, b y c' (';' when the items are phrases with commas of their own)."""
    parts = [lower_first(i.rstrip(".;")) for i in items]
    if any("," in p for p in parts):
        return "; ".join(parts)
    return ", ".join(parts[:-1]) + (" e " if fold(parts[-1])[:1] == "i" else " y ") + parts[-1]


def purpose_verb(label: str) -> str:
    """'ideal para' → 'es ideal', 'se usa para' → 'se usa' ('' for a label that is not 'X para')."""
    if not label.endswith(" para"):
        return ""
    prefix = label[:-5]
    return f"es {prefix}" if fold(prefix) in _ADJECTIVES else prefix


def list_sentence(lst: ItemList, heading: str) -> str:
    label, items = lower_first(lst.label), join_items(lst.items)
    if purpose_verb(label) and lst.group:
        return f"{lst.group} {purpose_verb(label)} para: {items}."
    if lst.group and noun_label(label) and article(label) in ("los", "las"):
        return f"{article(label).capitalize()} {label} de {lst.group} son: {items}."
    if lst.group:
        return f"Para {lst.group}, {label}: {items}."
    return f"En «{heading}», {label}: {items}." if heading else f"{lst.label}: {items}."


def list_question(lst: ItemList, heading: str, hit: Hit, rng: random.Random) -> str:
    label, doc = lower_first(lst.label), doc_name(hit, rng)
    if purpose_verb(label) and lst.group:
        return rng.choice(_PURPOSE_QUESTIONS).format(verb=purpose_verb(label), g=lst.group, doc=doc)
    if lst.group and noun_label(label) and article(label) in ("los", "las"):
        return rng.choice(_LIST_QUESTIONS).format(art=article(label), label=label, g=lst.group, doc=doc)
    if lst.group:
        return f"¿Qué dice {doc} sobre {lst.group} ({label})?"
    if not heading:
        return f"¿Qué dicen los materiales sobre «{lst.label}»?"
    return rng.choice(_UNGROUPED_QUESTIONS).format(label=lst.label, ll=label, h=heading, hl=lower_first(heading),
                                                   doc=doc)


def slide_lists(hit: Hit, rng: random.Random) -> list[Candidate]:
    """A question per labelled list, and a comparison when the slide sets two things side by side (two groups,
    or a heading 'A vs B'): answers read the items back, one sentence per list."""
    lists = item_lists(hit)
    heading = clean_heading(hit.section.split(" / ")[-1] if hit.section else hit.title)
    heading = "" if heading.endswith("?") else heading
    out = []
    for lst in (x for x in lists if fold(x.label) != fold(heading)):
        question, sentence = list_question(lst, heading, hit, rng), list_sentence(lst, heading)
        out.append(Candidate(question, (sentence,), lst.items, "list", key_facts(" ".join(lst.items), question)))
    groups = list(dict.fromkeys(lst.group for lst in lists if lst.group))
    vs = _VS.match(heading)
    if len(groups) >= 2 or (vs and len(lists) >= 2):
        a, b = groups[:2] if len(groups) >= 2 else (vs.group("a").strip(), vs.group("b").strip())
        chosen = [lst for lst in lists if len(groups) < 2 or lst.group in (a, b)][:4]
        fmt = {"a": a, "b": b, "doc": doc_name(hit, rng)}
        question = rng.choice(_COMPARE_QUESTIONS).format(**fmt)
        answer = tuple(list_sentence(lst, heading) for lst in chosen)
        evidence = tuple(item for lst in chosen for item in lst.items)
        out.append(Candidate(question, answer, evidence, "comparison", key_facts(" ".join(evidence), question, 3),
                             rng.choice(_COMPARE_EN).format(**fmt)))
    return out
