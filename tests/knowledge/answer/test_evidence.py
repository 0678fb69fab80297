"""Sentence-level evidence selection (knowledge/answer/evidence.py) against whole-chunk selection."""

from __future__ import annotations

from knowledge.answer.evidence import choose, render_evidence
from knowledge.answer.prompt import PromptShape, build_messages
from knowledge.retrieval import Hit

FILLER = ("Esta diapositiva repasa el contexto general del tema visto en la clase anterior sin datos nuevos. "
          "Se recomienda revisar el notebook de la semana para practicar con ejemplos adicionales del curso. ")


def hit(n: int, text: str, score: float = 1.0) -> Hit:
    return Hit(f"id{n}", f"Semana {n}/Clase {n}.pdf", f"Clase {n}", "", "page", n, n, n, score, text, 0.8)


def shown(passages) -> str:
    return build_messages("", passages, "")[1]["content"]


def test_a_two_part_question_gets_both_parts_from_wherever_they_rank():
    hits = [hit(1, FILLER * 2 + "El learning rate de LoRA en el ejemplo es 2e-4.", 1.0),
            hit(2, FILLER * 3, 0.9), hit(3, FILLER * 3, 0.8),
            hit(4, FILLER + "El rango de LoRA (r) usado en el ejemplo es 8.", 0.7)]
    question = "¿Qué learning rate y qué rango usa LoRA en el ejemplo?"
    chunks = PromptShape(k=4, max_sources=3).passages(hits, question)
    sentences = PromptShape(k=4, max_sources=5, evidence="sentences").passages(hits, question)
    assert "2e-4" in shown(chunks) and "es 8" not in shown(chunks)  # the fourth chunk never reaches the prompt
    assert "2e-4" in shown(sentences) and "es 8" in shown(sentences)
    ids = [p.hit.node_id for p in sentences]
    assert ids[0] == "id1" and "id4" in ids and ids == sorted(ids)  # retrieval order, numbered from 1
    assert [p.n for p in sentences] == list(range(1, len(ids) + 1))
    assert len(shown(sentences)) <= len(shown(chunks)) * 1.05  # more facts, not more text


def test_the_budget_and_the_number_of_sources_hold_labels_included():
    hits = [hit(i, f"Dato {i}: la regularización L{i} penaliza los pesos del modelo grande. " * 6, 1 - i / 10)
            for i in range(1, 9)]
    for budget, max_sources in ((1500, 5), (600, 2), (300, 5)):
        chosen = choose(hits, "¿Qué regularización penaliza los pesos?", max_sources, budget)
        evidence = render_evidence(hits, chosen)
        assert 1 <= len(evidence) <= max_sources
        used = sum(len(text) + len(h.label) + 8 for h, text in evidence)
        assert used <= budget + 2 * sum(text.count("…") for _, text in evidence)  # gap marks are not budgeted


def test_the_value_on_the_line_after_its_heading_comes_along():
    slide = "Hiperparámetros del entrenamiento\nÉpocas de entrenamiento:\n3 épocas con batch 16\n" + FILLER * 4
    passages = PromptShape(k=2, max_sources=5, max_total_chars=300, evidence="sentences").passages(
        [hit(1, slide), hit(2, FILLER * 4, 0.5)], "¿Cuántas épocas de entrenamiento?")
    assert "3 épocas con batch 16" in passages[0].text


def test_sentences_keep_their_order_and_gaps_are_marked():
    text = "Los embeddings representan palabras como vectores. " + FILLER + "Cada uno tiene 768 dimensiones."
    question = "¿Qué son los embeddings y cuántas dimensiones tienen?"
    [(_, shown_text)] = render_evidence([hit(1, text)], choose([hit(1, text)], question, 5, 120))
    first, last = shown_text.find("Los embeddings"), shown_text.find("768 dimensiones")
    assert 0 <= first < last and "…" in shown_text


def test_a_question_sharing_no_word_gets_the_top_chunk_in_order():
    hits = [hit(1, "Validación cruzada con k particiones. " + FILLER), hit(2, FILLER)]
    passages = PromptShape(k=2, max_sources=5, max_total_chars=200, evidence="sentences").passages(hits, "xyzzy?")
    assert [p.hit.node_id for p in passages] == ["id1"]
    assert passages[0].text.startswith("Validación cruzada con k particiones.")


def test_no_hits_no_evidence():
    assert PromptShape(evidence="sentences").passages([], "¿Qué es PCA?") == []
