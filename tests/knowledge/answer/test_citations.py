import random
import re

import pytest

from knowledge.answer.citations import attribute, cited_numbers, parse_markers, strip_markers

SOURCES = [
    "LoRA congela los pesos del modelo y entrena matrices de bajo rango A y B.",
    "El early stopping detiene el entrenamiento si no hay mejora en 20 rondas.",
    "La validación cruzada usa cinco pliegues en el curso.",
]


@pytest.mark.parametrize("text,expected", [
    ("Según [1], es así.", [1]),
    ("Ver [1, 3].", [1, 3]),
    ("Ver [1][2].", [1, 2]),
    ("Ver 【2】.", [2]),
    ("Ver [fuente 3] y [Fuente 1].", [3, 1]),
    ("Ver [^2].", [2]),
    ("Ver [[1]].", [1]),
    ("Ver [1-3].", [1, 2, 3]),
    ("Ver [99] y [0] y [4].", []),
    ("Ver [1, 99].", [1]),
    ("código x[0] = lista[2]", [2]),
])
def test_parse_markers(text, expected):
    assert parse_markers(text, 3) == expected


def test_cited_numbers_keeps_out_of_range_numbers_and_expands_ranges():
    assert cited_numbers("Ver [2-4] y [99], luego [1, 0].") == [2, 3, 4, 99, 1, 0]
    assert cited_numbers("Sin citas.") == []


def test_markers_are_renumbered_by_first_citation():
    out = attribute("El early stopping detiene tras 20 rondas sin mejora [2]. LoRA entrena matrices de bajo "
                    "rango [1].", SOURCES)
    assert [(c.n, c.source) for c in out.citations] == [(1, 2), (2, 1)]
    assert out.text == ("El early stopping detiene tras 20 rondas sin mejora [1]. LoRA entrena matrices de bajo "
                        "rango [2].")


def test_invalid_markers_are_dropped_and_sentence_attributed_by_overlap():
    out = attribute("LoRA congela los pesos y entrena matrices de bajo rango [7].", SOURCES)
    assert [c.source for c in out.citations] == [1]
    assert "[7]" not in out.text and out.text.endswith("[1].")


def test_a_wrong_number_is_corrected_to_the_source_that_holds_the_sentence():
    a = attribute("El early stopping detiene el entrenamiento si no hay mejora en 20 rondas [3].", SOURCES)
    assert a.text.endswith("[1].") and [c.source for c in a.citations] == [2] and a.unsupported == 0
    kept = attribute("LoRA congela los pesos y entrena matrices de bajo rango; usa cinco pliegues [1][3].", SOURCES)
    assert [c.source for c in kept.citations] == [1, 3]  # the cited sources together hold it: left as given
    made_up = attribute("El curso usa TensorFlow 1.0 en servidores propios [2].", SOURCES)
    assert [c.source for c in made_up.citations] == [2] and made_up.unsupported == 1  # nothing better: stays low
    invented = attribute("El early stopping detiene el entrenamiento si no hay mejora en 50 rondas [3].", SOURCES)
    assert [c.source for c in invented.citations] == [3] and invented.unsupported == 1  # [2] does not say 50


def test_unmarked_sentence_attributed_to_supporting_source():
    out = attribute("La validación cruzada del curso usa cinco pliegues.", SOURCES)
    assert [c.source for c in out.citations] == [3]
    assert out.support > 0.5


def test_made_up_sentence_gets_no_citation_and_low_support():
    out = attribute("Las oficinas abren los lunes a las ocho en el edificio central.", SOURCES)
    assert out.citations == []
    assert out.unsupported == 1 and out.support < 0.3


@pytest.mark.parametrize("seed", range(30))
def test_random_marker_strings_never_cite_unretrieved_sources(seed):
    rng = random.Random(seed)
    pieces = ["[", "]", "【", "】", ",", " ", "-", "^", "fuente", "[[", "]]"] + [str(rng.randint(0, 120))
                                                                              for _ in range(6)]
    noise = "".join(rng.choice(pieces) for _ in range(40))
    out = attribute(f"LoRA entrena matrices {noise} de bajo rango. Otra frase {noise}.", SOURCES)
    assert all(1 <= c.source <= len(SOURCES) for c in out.citations)
    shown = {int(n) for n in re.findall(r"\[(\d+)\]", out.text)}
    assert shown <= {c.n for c in out.citations}


def test_strip_markers_leaves_clean_text():
    assert strip_markers("Texto [1] con [2, 3] marcas [] .") == "Texto con marcas."


def test_empty_answer():
    out = attribute("", SOURCES)
    assert out.text == "" and out.citations == [] and out.support == 0.0
