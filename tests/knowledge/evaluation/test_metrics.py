"""Evaluation metrics as pure functions (no server)."""

import json

import pytest

from knowledge.evaluation.metrics import (
    AnswerRecord,
    QAItem,
    answer_metrics,
    citation_matches,
    items_digest,
    key_fact_recall,
    load_items,
    matches,
    retrieval_metrics,
)

GOLD_PAGE = {"file": "a/Clase 27.pdf", "page": 10}
GOLD_CELL = {"file": "nb.ipynb", "cell": 0}


def test_matching_rule_covers_ranges_and_cell_zero():
    assert matches({"file": "a/Clase 27.pdf", "loc_kind": "page", "loc_start": 9, "loc_end": 11}, GOLD_PAGE)
    assert not matches({"file": "a/Clase 27.pdf", "loc_kind": "page", "loc_start": 11, "loc_end": 12}, GOLD_PAGE)
    assert not matches({"file": "b.pdf", "loc_kind": "page", "loc_start": 10, "loc_end": 10}, GOLD_PAGE)
    assert matches({"file": "nb.ipynb", "loc_kind": "cell", "loc_start": 0, "loc_end": 0}, GOLD_CELL)
    assert matches({"file": "programa.md", "loc_kind": "", "loc_start": 0, "loc_end": 0}, {"file": "programa.md"})
    assert citation_matches({"file": "a/Clase 27.pdf", "pages": [9, 10]}, GOLD_PAGE)
    assert not citation_matches({"file": "a/Clase 27.pdf", "page": 3}, GOLD_PAGE)


def test_retrieval_metrics():
    m = retrieval_metrics([1, 2, None, 7])
    assert (m["hit_at_1"], m["hit_at_3"], m["hit_at_5"], m["hit_at_10"]) == (0.25, 0.5, 0.5, 0.75)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 1 / 7) / 4, abs=1e-4) and m["n"] == 4


def test_key_facts_ignore_accents_and_case():
    assert key_fact_recall("Se detiene si no hay MEJORA en 20 rondas", ["20", "mejora"]) == 1.0
    assert key_fact_recall("Usa validacion cruzada", ["validación", "5 pliegues"]) == 0.5


def test_answer_metrics():
    ans = QAItem("1", "q", True, [GOLD_PAGE], ["lora"])
    oos = QAItem("2", "q2", False)
    records = [
        AnswerRecord(ans, "LoRA entrena matrices [1]", False, [{"file": "a/Clase 27.pdf", "page": 10},
                                                              {"file": "x.pdf", "page": 1}], 900.0, 2000.0),
        AnswerRecord(oos, "No encuentro…", True, [], 800.0, 1000.0),
    ]
    m = answer_metrics(records)
    assert m["citation_precision"] == 0.5 and m["citation_recall"] == 1.0 and m["key_facts"] == 1.0
    assert m["abstention"] == 1.0 and m["false_abstention"] == 0.0 and m["n"] == 2
    assert m["ttft_p50_ms"] == 850.0 and m["total_p95_ms"] == 1950.0  # interpolated, as the benchmarks do
    assert m["words_per_answer"] == 3.0  # "LoRA entrena matrices", the marker left out; refusals not counted
    declined = AnswerRecord(ans, "No encuentro esa información.", True, [], 1.0, 2.0)
    assert answer_metrics([declined])["words_per_answer"] is None
    listed = AnswerRecord(ans, "LoRA entrena matrices [1].\n\nFuentes:\n[1] Clase 27, pág. 10", False, [], 1.0, 2.0)
    assert answer_metrics([listed, records[0]])["words_per_answer"] == 3.0


def test_load_items_and_digest(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "¿Qué es  LoRA?", "answerable": True}) + "\n\n")
    items = load_items(path)
    assert items[0].id == "a" and items_digest(items) == items_digest([QAItem("b", "¿qué es lora?", True)])
    path.write_text("{not json}\n")
    with pytest.raises(ValueError, match="qa.jsonl:1"):
        load_items(path)
