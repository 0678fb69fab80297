"""The headline outcome per question, the score, and the paired comparison (pure)."""

from hypothesis import given
from hypothesis import strategies as st

from knowledge.evaluation.metrics import AnswerRecord, QAItem
from knowledge.evaluation.outcomes import (
    CORRECT,
    MISSED,
    WRONG,
    outcome,
    outcome_report,
    paired,
    sign_test,
    summarize,
)

GOLD = {"file": "a/Clase 27.pdf", "page": 10}
ANSWERABLE = QAItem("a1", "¿qué entrena LoRA?", True, [GOLD], ["matrices", "rango bajo"], type="definition")
UNANSWERABLE = QAItem("u1", "¿dónde es la fiesta?", False, type="out_of_scope")


def rec(item: QAItem, answer: str, abstained: bool = False, citations: list[dict] | None = None) -> AnswerRecord:
    return AnswerRecord(item, answer, abstained, citations or [], None, 1.0)


def test_an_answer_is_correct_only_with_half_the_facts_and_a_gold_citation():
    both = "LoRA entrena matrices de rango bajo [1]."
    assert outcome(rec(ANSWERABLE, both, citations=[GOLD])) == CORRECT
    assert outcome(rec(ANSWERABLE, "Entrena matrices [1].", citations=[GOLD])) == CORRECT  # 1 of 2 facts is half
    assert outcome(rec(ANSWERABLE, both, citations=[{"file": "otra.pdf", "page": 1}])) == WRONG  # wrong source
    assert outcome(rec(ANSWERABLE, "Es una técnica [1].", citations=[GOLD])) == WRONG  # the echo: no fact
    assert outcome(rec(ANSWERABLE, both)) == WRONG  # cites nothing
    assert outcome(rec(ANSWERABLE, "No encuentro esa información.", abstained=True)) == MISSED


def test_an_unanswerable_question_is_correct_only_when_declined_citing_nothing():
    assert outcome(rec(UNANSWERABLE, "No encuentro esa información.", abstained=True)) == CORRECT
    assert outcome(rec(UNANSWERABLE, "En el salón 1500 [1].", citations=[GOLD])) == WRONG
    assert outcome(rec(UNANSWERABLE, "No encuentro…", abstained=True, citations=[GOLD])) == WRONG


def test_an_item_without_gold_needs_some_citation():
    no_gold = QAItem("s1", "¿cuándo?", True, [], ["1890"])
    assert outcome(rec(no_gold, "En 1890 [1].", citations=[{"file": "p.txt"}])) == CORRECT
    assert outcome(rec(no_gold, "En 1890.")) == WRONG


def test_score_is_correct_minus_wrong_and_reported_per_type():
    records = [rec(ANSWERABLE, "matrices [1]", citations=[GOLD]),  # correct
               rec(ANSWERABLE, "No encuentro", abstained=True),  # missed
               rec(UNANSWERABLE, "sí [1]", citations=[GOLD]),  # wrong
               rec(UNANSWERABLE, "No encuentro", abstained=True)]  # correct
    report = outcome_report(records)
    assert (report[CORRECT], report[MISSED], report[WRONG], report["n"]) == (0.5, 0.25, 0.25, 4)
    assert report["score"] == 0.25
    assert report["by_type"]["definition"]["score"] == 0.5 and report["by_type"]["out_of_scope"]["score"] == 0.0
    assert summarize([])["score"] is None


def test_paired_counts_changes_each_way_on_shared_items_only():
    a = {"1": WRONG, "2": MISSED, "3": CORRECT, "4": CORRECT, "only_a": WRONG}
    b = {"1": CORRECT, "2": WRONG, "3": CORRECT, "4": MISSED, "only_b": CORRECT}
    p = paired(a, b)
    assert (p.n, p.better, p.worse) == (4, 1, 2)
    assert p.changes == {"wrong→correct": 1, "missed→wrong": 1, "correct→missed": 1}
    assert "1 better, 2 worse" in p.describe("base", "tuned")


def test_sign_test_matches_the_binomial_tails():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 0) == 2 / 32  # all five discordant pairs one way
    assert sign_test(3, 3) == 1.0
    assert abs(sign_test(9, 1) - 2 * 11 / 1024) < 1e-12


@given(st.integers(0, 30), st.integers(0, 30))
def test_sign_test_is_symmetric_and_a_probability(better, worse):
    p = sign_test(better, worse)
    assert p == sign_test(worse, better) and 0 < p <= 1
