"""Near misses (pure functions): questions that look answerable from sources about the same thing, and are not —
field terms the course never names, who made a term it defines — and their counterparts, answered from the
course where it does name or define the term."""

from __future__ import annotations

import random
import re
from pathlib import Path

from knowledge.retrieval import Hit
from knowledge.text import content_words, fold, split_sentences

from .chunks import Candidate, _sentence, doc_name, is_sentence, key_facts, read_blocks
from .errors import ConfigError
from .questions import defining_sentences, states_value


def defined_terms(hit: Hit) -> list[str]:
    """The terms a chunk defines, in order."""
    return list(dict.fromkeys(term for _, term, _, _ in defining_sentences(read_blocks(hit))))


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
