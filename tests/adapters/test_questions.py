"""Question and answer extraction from a chunk (pure functions)."""

import random

from adapters.questions import article, candidates, informal, key_facts, lower_first, read_blocks
from tests.adapters.conftest import KNN, OVERFIT, SCHEDULE, chunk


def test_blocks_join_wrapped_pdf_lines_and_find_the_heading():
    blocks = read_blocks(chunk("a", OVERFIT, "Sobreajuste (overfitting)"))
    assert [b.kind for b in blocks] == ["heading", "prose"]
    assert "su error de entrenamiento es muy bajo" in blocks[1].text  # the line break is gone


def test_code_lines_are_not_prose_and_prose_with_code_is_not_code():
    kinds = {b.text: b.kind for b in read_blocks(chunk("a", KNN, "Entrenamiento del KNN", "t.ipynb", 2))}
    assert kinds["knn = KNeighborsClassifier(n_neighbors=5)"] == "code"
    assert kinds["Usamos k = 5 vecinos y la distancia euclidiana."] == "prose"


def test_every_answer_is_copied_from_its_chunk():
    rng = random.Random(0)
    for text, section in ((OVERFIT, "Sobreajuste (overfitting)"), (SCHEDULE, "Información general"),
                          (KNN, "Entrenamiento del KNN")):
        hit = chunk("a", text, section)
        found = candidates(hit, rng, limit=5)
        assert found
        flat = " ".join(text.replace("**", "").split())
        for c in found:
            assert all(" ".join(e.split()) in flat for e in c.evidence), c


def test_labelled_bullets_and_code_arguments_become_questions():
    rng = random.Random(0)
    schedule = candidates(chunk("a", SCHEDULE, "Información general", "programa.md"), rng, 5)
    assert any(c.kind == "keyvalue" and "horario de atención" in c.question and "15:00" in c.facts
               for c in schedule)
    knn = candidates(chunk("a", KNN, "Entrenamiento del KNN", "t.ipynb", 2), rng, 5)
    assert any(c.kind == "code" and "n_neighbors" in c.question and c.facts == ("5",) for c in knn)


def test_small_helpers():
    assert lower_first("Validación cruzada") == "validación cruzada" and lower_first("KNN rápido") == "KNN rápido"
    assert article("horario de atención") == "el" and article("fecha límite") == "la"
    assert article("talleres semanales") == "los"
    assert key_facts("Con k = 5 pliegues y validación estratificada.", "¿cuántos pliegues?")[0] == "5"
    q = informal("¿Qué es el sobreajuste?", random.Random(1))
    assert "¿" not in q and q[0].islower()
