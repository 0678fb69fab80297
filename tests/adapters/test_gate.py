"""The gate's decision (pure): the headline score against the base, parity of quantized vs merged, and the chat
template."""

import pytest

import adapters.gate
from adapters.errors import AdapterError
from adapters.gate import balanced, base_key, decide, gains, served_form
from adapters.report import describe_gains
from knowledge.answer.answerer import AnswerSettings
from knowledge.evaluation.metrics import QAItem

T = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
TEMPLATES = {"training": T, "base": T, "merged": T, "quantized": T}


def scores(score: float, n: int = 100) -> dict:
    return {"outcomes": {"score": score, "n": n}}


def evaluation(merged: dict, quantized: dict, base_score: float = 0.0, tuned_score: float = 0.2) -> dict:
    """One set: the tuned forms' metrics as given, their score above the base's unless told otherwise."""
    return {"heldout": {"base": {"citation_precision": 0.1, "abstention": 0.5, **scores(base_score)},
                        "merged": {**scores(tuned_score), **merged}, "quantized": {**scores(tuned_score), **quantized}}}


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
    e["heldout"]["lora"] = {"citation_precision": 0.69, "abstention": 1.0, **scores(0.3)}
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


def test_gains_are_the_served_form_minus_the_base_and_improve_only_when_the_score_rose_everywhere():
    e = evaluation({"citation_precision": 0.80, "abstention": 0.90}, {"citation_precision": 0.5, "abstention": 0.5})
    better = gains(e, "merged")
    assert better["vs_base"] == {"heldout": {"score": 0.2, "citation_precision": 0.7, "abstention": 0.4}}
    assert better["improves"] and better["paired"] == {}  # no per-item outcomes recorded: no paired line
    assert describe_gains(better, "merged") == ("merged vs base: heldout score +0.200, citation_precision +0.700, "
                                                "abstention +0.400 — the tuning improves on the base")
    e["heldout"]["quantized"]["outcomes"]["score"] = 0.0  # metrics up, score flat: not an improvement
    assert not gains(e, "quantized")["improves"]
    del e["heldout"]["base"]
    assert gains(e, "merged") == {"vs_base": {}, "improves": False, "paired": {}}
    assert describe_gains(gains(e, "merged"), "merged") == "no base GGUF to compare the tuning with"


def test_without_scores_the_gated_metrics_decide_whether_it_improves():
    e = {"heldout": {"base": {"citation_precision": 0.1, "abstention": 0.5},
                     "merged": {"citation_precision": 0.8, "abstention": 0.5}}}
    assert gains(e, "merged")["improves"]
    e["heldout"]["merged"]["abstention"] = 0.4
    assert not gains(e, "merged")["improves"]


def test_the_score_must_beat_the_base_on_every_set_with_enough_items():
    parity = {"citation_precision": 0.5, "abstention": 0.5}
    e = evaluation(parity, parity, base_score=0.1, tuned_score=0.1)  # equal is not better
    assert decide(e, TEMPLATES, 0.02).reasons == ["heldout: score +0.100 quantized vs +0.100 base (needs > +0.100)"]
    e = evaluation(parity, parity, base_score=0.1, tuned_score=0.15)
    assert decide(e, TEMPLATES, 0.02).passed and not decide(e, TEMPLATES, 0.02, min_gain=0.1).passed
    e["dev"] = {"base": scores(0.3, 40), "merged": {**parity, **scores(0.2, 40)}, "quantized": {**parity,
                                                                                               **scores(0.2, 40)}}
    assert decide(e, TEMPLATES, 0.02).reasons == ["dev: score +0.200 quantized vs +0.300 base (needs > +0.300)"]
    e["dev"]["quantized"]["outcomes"]["score"] = 0.35
    assert decide(e, TEMPLATES, 0.02).passed
    assert decide(e, TEMPLATES, 0.02, minimum={"heldout": 120}).reasons == [
        "heldout: 100 items, fewer than the 120 needed to tell a gain"]
    assert decide(e, TEMPLATES, 0.02, min_gain=-3).passed  # turned off
    del e["dev"]["base"]
    assert decide(e, TEMPLATES, 0.02).reasons == ["dev: no base score to beat"]


def test_the_paired_comparison_is_recorded_per_set():
    e = evaluation({}, {})
    e["heldout"]["base"]["outcomes"]["by_id"] = {"q1": "wrong", "q2": "missed", "q3": "correct"}
    e["heldout"]["quantized"]["outcomes"]["by_id"] = {"q1": "correct", "q2": "correct", "q3": "correct"}
    g = gains(e, "quantized")
    assert g["paired"]["heldout"].startswith("quantized vs base on the same 3 items: 2 better, 0 worse")
    assert describe_gains(g, "quantized").splitlines()[1].startswith("heldout: quantized vs base")


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
