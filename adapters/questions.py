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
from dataclasses import dataclass
from pathlib import Path

from knowledge.retrieval import Hit
from knowledge.text import content_words, fold, split_sentences

from .errors import ConfigError


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


# -- question forms ------------------------------------------------------------------------------------
_DEFINITION = re.compile(
    r"^(?P<term>(?:(?:el|la|los|las|un|una)\s+)?[\wáéíóúñü()\-/ ]{3,60}?)\s+"
    r"(?P<verb>es|son|se define como|consiste en|significa|sirve para|se usa para)\s+(?P<rest>.{12,})$",
    re.IGNORECASE)
_DEFINITION_QUESTIONS = {"es": "¿Qué es {t}?", "son": "¿Qué son {t}?", "se define como": "¿Cómo se define {t}?",
                         "consiste en": "¿En qué consiste {t}?", "significa": "¿Qué significa {t}?",
                         "sirve para": "¿Para qué sirve {t}?", "se usa para": "¿Para qué se usa {t}?"}
_VAGUE = {"su", "sus", "este", "esta", "esto", "eso", "esa", "ese", "lo", "le", "ello", "otro", "otra", "cada",
          "todo", "toda", "nuestro", "nuestra", "mi", "tu", "aqui", "alli", "hoy", "que", "como"}
_DEICTIC = {"este", "esta", "estos", "estas", "ese", "esa", "esos", "esas", "dicho", "dicha", "anterior",
            "siguiente", "primera", "primer", "primero", "segunda", "segundo", "tercera", "tercero", "ultimo",
            "ultima", "cual", "cuales", "que", "si", "recomendado", "recomendada", "resultado", "dos", "tres",
            "cuatro", "cinco", "ambos", "ambas", "mas", "menos", "mejor", "peor"}
_PREPOSITIONS = {"a", "ante", "con", "de", "desde", "en", "entre", "hacia", "hasta", "para", "por", "segun", "sin",
                 "sobre", "tras"}
_TRAILING = _FUNCTION_WORDS | {"a", "o", "u", "e", "como", "cual", "sobre", "entre", "sin"}
_KEYVALUE = re.compile(r"^(?P<label>[^:]{3,60}?):\s*(?P<value>\S.{1,300})$")
_KWARG = re.compile(r"\b(?P<name>[a-z_][a-z0-9_]{2,})=(?P<value>[\w.'\"-]{1,30})(?=[,)\s])")
_SKIP_KWARGS = {"self", "axis", "inplace", "figsize", "color", "label", "fontsize", "verbose", "alpha", "marker",
                "loc", "share", "placeholder", "value", "minimum", "maximum", "step", "title", "name", "lines",
                "scale", "bins", "edgecolor", "linestyle", "linewidth", "rotation", "ha", "va", "fmt", "cmap",
                "annot", "palette", "hue", "kind", "s", "width", "height", "dpi", "interactive", "debug"}
_LITERAL = re.compile(r"^(?:-?\d+(?:\.\d+)?(?:e-?\d+)?|True|False|None|'[^']{1,25}'|\"[^\"]{1,25}\")$")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
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
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]+")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]+\)")
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


def defined(sentence: str) -> tuple[str, str, str] | None:
    """'El sobreajuste es cuando …' → ('el sobreajuste', 'es', 'cuando …'): a definition worth asking about."""
    m = _DEFINITION.match(sentence.rstrip("."))
    if not m or len(sentence) > 320:
        return None
    term = lower_first(m.group("term").strip())
    if not good_term(term) or not is_sentence(sentence):
        return None
    return term, m.group("verb").lower(), m.group("rest")


def defined_terms(hit: Hit) -> list[str]:
    """The terms a chunk defines, in order."""
    return list(dict.fromkeys(term for _, term, _, _ in defining_sentences(read_blocks(hit))))


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


# -- near misses: questions that look answerable from sources about the same thing, and are not ---------------
# Terms of the field an applied-AI course may never name, each with the (folded) stem that names it. The dataset
# stage asks only about those the indexed course never names, so retrieval returns chunks on neighbouring topics:
# the near miss a model must decline instead of answering from memory (SQuAD 2.0's adversarial questions are of
# this kind: https://arxiv.org/abs/1806.03822). Written for this project.
FIELD_TERMS = (
    ("XGBoost", "xgboost"), ("LightGBM", "lightgbm"), ("CatBoost", "catboost"), ("AdaBoost", "adaboost"),
    ("DBSCAN", "dbscan"), ("t-SNE", "t-sne"), ("UMAP", "umap"), ("Isolation Forest", "isolation forest"),
    ("las redes generativas adversarias", "generativas adversarias"), ("los autoencoders variacionales",
    "variacional"), ("Q-learning", "q-learning"), ("las máquinas de Boltzmann", "boltzmann"),
    ("los modelos ocultos de Markov", "markov"), ("las redes LSTM", "lstm"), ("word2vec", "word2vec"),
    ("los modelos de difusión", "modelos de difusion"), ("el clustering espectral", "clustering espectral"),
    ("los procesos gaussianos", "procesos gaussianos"), ("la regresión de Poisson", "poisson"),
    ("el algoritmo EM", "algoritmo em"), ("las redes bayesianas", "redes bayesianas"), ("el muestreo de Gibbs",
    "gibbs"), ("el aprendizaje federado", "federado"), ("AutoML", "automl"), ("los valores SHAP", "shap"),
    ("LIME", "lime"), ("la optimización bayesiana", "optimizacion bayesiana"), ("ARIMA", "arima"),
    ("el filtro de Kalman", "kalman"), ("YOLO", "yolo"), ("las redes siamesas", "siames"),
    ("la regresión cuantílica", "cuantil"), ("el análisis discriminante lineal", "discriminante"),
    ("las redes de Hopfield", "hopfield"), ("el algoritmo Apriori", "apriori"), ("los mapas autoorganizados",
    "autoorganizad"), ("el aprendizaje por refuerzo", "aprendizaje por refuerzo"), ("las redes de cápsulas",
    "capsula"), ("el perceptrón multicapa", "multicapa"), ("la validación de Monte Carlo", "monte carlo"),
)
_ABSENT_QUESTIONS = ("¿Qué {es} {t}?", "¿Para qué {sirve} {t}?", "¿Cómo se {usa} {t} en {doc}?",
                     "¿Qué dice {doc} sobre {t}?", "¿Cuáles son las ventajas de {t}?", "explícame {t}",
                     "cómo {funciona} {t}?", "¿Qué hiperparámetros {tiene} {t}?")
_ORIGIN_QUESTIONS = ("¿Quién propuso {u}?", "¿En qué año se {inventó} {u}?", "¿Quién creó {u} y cuándo?",
                     "¿Quién inventó {u}?", "¿En qué año {apareció} {u}?", "quién desarrolló {u}?")
# a source that says who made something or when: a year, or the verbs and nouns of authorship (folded)
_ORIGIN = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b|\b(?:propu|propon|invent|creo\b|cread|creador|desarroll|introdu"
                     r"|autor|fundad|disen|publica)")


_ARTICLE = re.compile(r"^(?:el|la|los|las|un|una|unos|unas)\s+")


def read_field_terms(path: Path) -> tuple[tuple[str, str], ...]:
    """A course's own field terms (what FIELD_TERMS is for machine learning): one per line, `term` or
    `term | stem` — the stem being the folded text that shows the course names it (default: the folded term
    without its article, "las redes siamesas" → "redes siamesas"); blank lines and # comments are skipped."""
    terms = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        term, _, stem = (part.strip() for part in line.partition("|"))
        stem = fold(stem) if stem else _ARTICLE.sub("", fold(term))
        if not term or not stem:
            raise ConfigError(f"{path}:{number}: expected `term` or `term | stem`, got {line!r}")
        terms.append((term, stem))
    if not terms:
        raise ConfigError(f"{path}: no terms (one per line, `term` or `term | stem`)")
    return tuple(terms)


def names(folded_text: str, stem: str) -> bool:
    """The folded text names the term: its stem at a word start."""
    return re.search(rf"(?<![\w-]){re.escape(stem)}", folded_text) is not None


def plural(term: str) -> int:
    """1 for 'las redes siamesas', 0 for 'el filtro de Kalman': which verb form a template takes."""
    return 1 if fold(term).startswith(("los ", "las ")) else 0


_VERBS = {"es": "son", "sirve": "sirven", "usa": "usan", "funciona": "funcionan", "tiene": "tienen"}


def ask(template: str, term: str, **fields: str) -> str:
    """A question template filled with `term`, its verbs agreeing with it ('¿Qué {es} {t}?' → '¿Qué son las …?')."""
    n = plural(term)
    verbs = {singular: (singular, many)[n] for singular, many in _VERBS.items()}
    return template.format(t=term, **verbs, **fields).replace(" de el ", " del ")


def absent_term_question(term: str, hit: Hit, rng: random.Random) -> Candidate:
    """A question about a term the course never names, sometimes 'in' one of its documents."""
    return Candidate(ask(rng.choice(_ABSENT_QUESTIONS), term, doc=doc_name(hit, rng)), (), (), "near_miss")


# stems (content_words) of nouns too plain to ask who invented them: 'los parámetros', 'el verdadero desafío'
_PLAIN = {"proces", "parame", "datos", "modelo", "result", "valor", "valore", "funcio", "metodo", "variab",
          "ejempl", "proble", "objeti", "desafi", "verdad", "estruc", "tipo", "tipos", "paso", "pasos", "idea",
          "concep", "caso", "casos", "forma", "parte", "cosa", "salida", "entrad", "codigo", "archiv", "clase"}


def origin_term(term: str) -> bool:
    """A defined term worth asking who made: a named thing ('la retropropagación'), not 'un proceso'."""
    return fold(term).split()[0] not in ("un", "una", "unos", "unas") and bool(content_words(term) - _PLAIN)


def origin_question(term: str, rng: random.Random) -> Candidate:
    """Who made a term the course defines, or when: what slides and notebooks rarely say."""
    n = plural(term)
    question = rng.choice(_ORIGIN_QUESTIONS).format(u=term, inventó=("inventó", "inventaron")[n],
                                                    apareció=("apareció", "aparecieron")[n])
    return Candidate(question, (), (), "near_miss")


def says_origin(text: str) -> bool:
    return _ORIGIN.search(fold(text)) is not None


# the near misses' question forms, asked about a term the course defines and answered from its definition: the
# counterpart that keeps a model from learning to refuse a form of question (or a term that sounds like the field)
# instead of checking the sources
_PRESENT_QUESTIONS = ("¿Qué {es} {t}?", "¿Qué dice {doc} sobre {t}?", "explícame {t}", "cómo {funciona} {t}?")


def present_term_questions(hit: Hit, rng: random.Random) -> list[Candidate]:
    """The chunk's definitions of named things ('la retropropagación es …'), asked in the near misses' forms."""
    out = []
    for sentence, term, verb, rest in defining_sentences(read_blocks(hit)):
        if verb not in ("es", "son") or states_value(verb, rest) or not origin_term(term):
            continue  # a purpose ('sirve para'), a value ('k es 5') or a plain noun: not what near misses ask
        question = ask(rng.choice(_PRESENT_QUESTIONS), term, doc=doc_name(hit, rng))
        out.append(Candidate(question, (_sentence(sentence),), (sentence,), "counterpart", key_facts(rest, question)))
    return out


# what the course says of a field term it does name: the near misses' own terms, answerable when the course has them
_NAMED_QUESTIONS = ("¿Qué dice {doc} sobre {t}?", "¿Qué se dice de {t} en {doc}?", "¿Cómo se {usa} {t} en {doc}?",
                    "explícame {t}", "¿Qué se ve en el curso sobre {t}?")


def named_term_question(term: str, stem: str, hit: Hit, rng: random.Random) -> Candidate | None:
    """A question about a field term the chunk names, answered by its first prose sentence naming it."""
    for block in (b for b in read_blocks(hit) if b.kind in ("prose", "bullet")):
        for sentence in split_sentences(block.text):
            if len(sentence) <= 320 and is_sentence(sentence) and names(fold(sentence), stem):
                question = ask(rng.choice(_NAMED_QUESTIONS), term, doc=doc_name(hit, rng))
                return Candidate(question, (_sentence(sentence),), (sentence,), "counterpart",
                                 key_facts(sentence, question))
    return None


# Topics no course of this kind covers; answered with the refusal. Written for this project, not taken from
# any evaluation set (the dataset stage checks that with `items_digest`).
OFFTOPIC = (
    "¿Cuál es la receta tradicional de la paella valenciana?", "¿Quién ganó el mundial de fútbol de 1986?",
    "¿Cómo cambio el aceite de mi moto?", "¿Cuál es la capital de Mongolia?",
    "¿Qué horario tiene la piscina municipal?", "¿Cómo se cuida un bonsái en invierno?",
    "¿Cuántas calorías tiene una arepa con queso?", "¿Cómo configuro el router de mi casa?",
    "¿Qué vacunas necesito para viajar a Tailandia?", "¿Cuál es la mejor época para sembrar tomates?",
    "¿Cómo se juega al mus?", "¿Quién escribió Cien años de soledad?",
    "¿Cómo saco el pasaporte por primera vez?", "¿Qué tarifa tiene el parqueadero de la universidad?",
    "¿Cuál es la fórmula química del ozono?", "¿Cómo se afina una guitarra?",
    "¿Cuándo abre la cafetería los domingos?", "¿Cuál es el río más largo de África?",
    "¿Cómo preparo un examen de conducir?", "¿Qué raza de perro es mejor para un apartamento?",
    "¿Cómo se declara la renta siendo estudiante?", "¿Qué películas se estrenan este fin de semana?",
    "¿Cómo reparo una gotera en el techo?", "¿En qué año llegó el hombre a la Luna?",
    "¿Cómo se hace un nudo de corbata Windsor?", "¿Qué significa soñar con serpientes?",
    "¿Cuánto cuesta un vuelo a Lima?", "¿Cómo se poda un rosal?",
    "¿Qué equipo lidera la liga de baloncesto?", "¿Cómo se tiñe el pelo en casa?",
    "¿Cuál es el horario del gimnasio del campus?", "¿Qué idioma se habla en Surinam?",
)


# -- course misses: how the course runs, where its materials are silent ----------------------------------------
# What students ask about the course itself, each topic with the (folded) stems that show its materials talk
# about it. The dataset stage asks only about topics the indexed course never names: retrieval then returns the
# course's own syllabus and exam chunks, which look as if they should answer — a model that answers from them
# invents a rule (office hours, a make-up exam). Written for this project.
COURSE_TOPICS = (
    (("horario de atencion", "horas de atencion", "horario de oficina", "office hours", "asesoria"),
     ("¿En qué horario atiende el profesor dudas fuera de clase?", "¿El profesor tiene horas de oficina?",
      "¿Cuándo puedo ir a resolver dudas con el profesor?", "¿A qué hora atiende el profesor en su oficina?")),
    (("supletori", "examen de recuperacion", "parcial de recuperacion", "recuperatori", "examen diferido", "reprogram",
      "nueva fecha"),
     ("¿Qué pasa si no puedo presentar un parcial por enfermedad?", "¿Se puede reprogramar un parcial?",
      "¿Hay examen de recuperación si pierdo el parcial?", "¿Puedo presentar el parcial otro día si tengo un viaje?")),
    (("entrega tardia", "entregas tardias", "entregar tarde", "entrega tarde", "fuera de plazo", "extemporane",
      "despues de la fecha limite", "penalizacion por"),
     ("¿Se aceptan entregas después de la fecha límite?", "¿Cuánto se descuenta por entregar tarde un trabajo?",
      "¿Qué pasa si subo el proyecto un día tarde?")),
    (("asistencia", "inasistencia", "fallas", "faltas", "asistir"),
     ("¿La asistencia a clase es obligatoria?", "¿Con cuántas faltas se pierde el curso?",
      "¿Toman lista en las clases?")),
    (("grabacion", "grabad"),
     ("¿Las clases quedan grabadas?", "¿Dónde encuentro las grabaciones de las clases?",
      "¿Suben el video de la clase para quien no pudo ir?")),
    (("hoja de formulas", "libro abierto", "material permitido", "apuntes"),
     ("¿Se pueden usar apuntes durante el parcial?", "¿El examen es a libro abierto?",
      "¿Se puede llevar una hoja de fórmulas al examen?")),
    (("reclamo", "reclamacion", "apelacion", "revision de nota", "revision de calificacion", "recalific"),
     ("¿Cómo se pide la revisión de una nota?", "¿Cuánto tiempo hay para reclamar una calificación?",
      "¿A quién le escribo si creo que me calificaron mal el parcial?")),
    (("puntos extra", "puntos adicionales", "credito extra", "bonificacion", "bono"),
     ("¿Hay forma de ganar puntos extra en el curso?", "¿Se puede subir la nota con un trabajo adicional?",
      "¿Hay algún bono para el examen final?")),
    (("salon", "aula", "edificio"),
     ("¿En qué salón es la clase?", "¿En qué edificio se dicta el curso?", "¿Dónde queda el aula del curso?")),
    (("nota minima", "nota aprobatoria", "aprobar", "aprueba", "reprobar", "reprueba", "perder la materia"),
     ("¿Cuál es la nota mínima para aprobar el curso?", "¿Con cuánto se pasa la materia?",
      "¿Qué nota necesito en el final para no perder el curso?")),
    (("prerrequisit", "requisito previo", "correquisit"),
     ("¿Qué prerrequisitos tiene el curso?", "¿Necesito haber visto otra materia antes de este curso?")),
    (("plagio", "copia", "integridad academica", "honestidad academica"),
     ("¿Qué pasa si me descubren copiando en un parcial?", "¿Qué sanción tiene el plagio en los proyectos?",
      "¿Qué pasa si dos grupos entregan el mismo código?")),
    (("retiro", "retirar", "cancelar la materia", "cancelacion"),
     ("¿Hasta qué fecha se puede retirar la materia?", "¿Cómo cancelo el curso si voy perdiendo?")),
)


def course_questions(folded_corpus: str) -> list[tuple[str, tuple[str, ...]]]:
    """(question, the topic's stems) for every topic the course's materials never name."""
    return [(question, stems) for stems, questions in COURSE_TOPICS
            if not any(names(folded_corpus, stem) for stem in stems) for question in questions]
