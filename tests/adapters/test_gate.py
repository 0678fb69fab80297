"""The gate's decision (pure): parity of quantized vs merged, and the chat template."""

import pytest

import adapters.gate
from adapters.errors import AdapterError
from adapters.gate import balanced, base_key, decide, describe_gains, gains, served_form
from knowledge.answer.answerer import AnswerSettings
from knowledge.evaluation.metrics import QAItem

T = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
TEMPLATES = {"training": T, "base": T, "merged": T, "quantized": T}


def evaluation(merged: dict, quantized: dict) -> dict:
    return {"heldout": {"base": {"citation_precision": 0.1, "abstention": 0.5}, "merged": merged,
                        "quantized": quantized}}


def test_passes_within_two_points():
    e = evaluation({"citation_precision": 0.80, "abstention": 0.90}, {"citation_precision": 0.78, "abstention": 0.95})
    assert decide(e, TEMPLATES, 0.02).passed


def test_fails_when_quantization_costs_more_than_two_points():
    e = evaluation({"citation_precision": 0.80, "abstention": 0.90}, {"citation_precision": 0.77, "abstention": 0.90})
    verdict = decide(e, TEMPLATES, 0.02)
    assert not verdict.passed
    assert verdict.reasons == ["heldout: citation_precision 0.770 quantized vs 0.800 merged (drop 3.0 pts > 2.0)"]


def test_abstention_drop_fails_too_and_missing_metrics_are_skipped():
    e = evaluation({"citation_precision": 0.5, "abstention": 1.0}, {"citation_precision": 0.5, "abstention": 0.5})
    assert "abstention" in decide(e, TEMPLATES, 0.02).reasons[0]
    e = evaluation({"citation_precision": 0.5, "abstention": None}, {"citation_precision": 0.5, "abstention": None})
    assert decide(e, TEMPLATES, 0.02).passed


def test_missing_or_different_chat_template_fails():
    e = evaluation({"citation_precision": 0.5, "abstention": 1.0}, {"citation_precision": 0.5, "abstention": 1.0})
    missing = decide(e, {**TEMPLATES, "quantized": None}, 0.02)
    assert not missing.passed and missing.reasons == ["chat template missing (quantized)"]
    changed = decide(e, {**TEMPLATES, "merged": T + " "}, 0.02)
    assert not changed.passed and "merged differs" in changed.reasons[0]


def test_a_system_not_evaluated_fails():
    assert not decide({"heldout": {"merged": {"citation_precision": 1.0}}}, TEMPLATES, 0.02).passed


def test_a_limited_set_keeps_both_kinds_of_item():
    items = [QAItem(f"a{i}", "q", True) for i in range(5)] + [QAItem(f"u{i}", "q", False) for i in range(2)]
    assert [i.id for i in balanced(items, 4)] == ["a0", "u0", "a1", "u1"]
    assert balanced(items, 0) == items


def test_the_served_form_is_what_is_gated():
    e = evaluation({"citation_precision": 0.7, "abstention": 0.6}, {"citation_precision": 0.4, "abstention": 0.8})
    e["heldout"]["lora"] = {"citation_precision": 0.69, "abstention": 1.0}
    assert not decide(e, TEMPLATES, 0.02).passed  # quantized lost 30 points
    assert decide(e, TEMPLATES, 0.02, served="lora").passed
    del e["heldout"]["lora"]
    assert decide(e, TEMPLATES, 0.02, served="lora").reasons == ["heldout: merged or lora not evaluated"]


def test_auto_serves_runtime_lora_only_when_there_is_an_adapter_gguf_over_a_gguf_base():
    with_lora = {"adapter": {"gguf": {"path": "/x/adapter-F16.gguf"}}, "base": {"gguf": True}}
    assert served_form("auto", with_lora) == "lora" and served_form("quantized", with_lora) == "quantized"
    hub_base = {"adapter": {"gguf": None}, "base": {"gguf": False}}
    assert served_form("auto", hub_base) == "quantized"
    with pytest.raises(AdapterError, match="serve=lora needs"):
        served_form("lora", hub_base)


def test_gains_are_the_served_form_minus_the_base_and_improve_only_when_nothing_got_worse():
    e = evaluation({"citation_precision": 0.80, "abstention": 0.90}, {"citation_precision": 0.5, "abstention": 0.5})
    better = gains(e, "merged")
    assert better == {"vs_base": {"heldout": {"citation_precision": 0.7, "abstention": 0.4}}, "improves": True}
    assert describe_gains(better, "merged") == ("merged vs base: heldout citation_precision +0.700, abstention "
                                                "+0.400 — the tuning improves on the base")
    worse = gains(e, "quantized")  # abstention equal, precision up: improves; then precision down: does not
    assert worse["improves"] and worse["vs_base"]["heldout"]["abstention"] == 0.0
    e["heldout"]["quantized"]["citation_precision"] = 0.05
    assert not gains(e, "quantized")["improves"]
    del e["heldout"]["base"]
    assert gains(e, "merged") == {"vs_base": {}, "improves": False}
    assert describe_gains(gains(e, "merged"), "merged") == "no base GGUF to compare the tuning with"


def test_the_side_by_side_table_has_a_row_per_metric_and_a_column_per_form():
    from adapters.report import METRICS, side_by_side

    e = {"heldout": {"base": {"citation_precision": 0.5, "words_per_answer": 41.25, "total_p50_ms": 9123.4, "n": 40},
                     "lora": {"citation_precision": 0.625, "abstention": None}}}
    rows = {row[1]: row for row in side_by_side(e)}
    assert list(rows) == list(METRICS) and all(row[0] == "heldout" for row in rows.values())
    assert rows["citation_precision"][2:] == ["0.500", "—", "—", "0.625"]
    assert rows["words_per_answer"][2] == "41.2" and rows["total_p50_ms"][2] == "9123" and rows["n"][2] == "40"
    assert rows["abstention"][5] == "—"  # no unanswerable item in the set


def test_the_bases_key_changes_with_anything_its_answers_depend_on(tmp_path, monkeypatch):
    code = tmp_path / "knowledge"
    code.mkdir()
    (code / "answer.py").write_text("PROMPT = 'a'\n")
    monkeypatch.setattr(adapters.gate, "KNOWLEDGE", code)
    items = [QAItem("q1", "¿Qué es el sobreajuste?", True, gold=[{"file": "a.pdf", "page": 2}])]

    def key(**changed):
        args = {"base_sha": "abc", "items": items, "index": "idx", "shape": AnswerSettings(), "n_ctx": 4096,
                "threads": 2} | changed
        return base_key(**args)

    first = key()
    assert key() == first  # the same measurement: reused
    assert len({first, key(base_sha="abd"), key(index="idx2"), key(n_ctx=2048), key(threads=1),
                key(shape=AnswerSettings(max_answer_tokens=100)),
                key(items=[QAItem("q1", "¿Qué es el sobreajuste?", True, gold=[{"file": "a.pdf", "page": 3}])])}) == 7
    (code / "answer.py").write_text("PROMPT = 'b'\n")  # the pipeline's code changed: measured again
    assert key() != first
