"""What people read: the side-by-side table, the gate's verdict lines, progress lines worth printing."""

from pathlib import Path

from adapters.report import METRICS, OUTCOMES, gate_lines, side_by_side, worth_telling


def test_progress_tells_the_first_every_tenth_and_the_last_answer():
    told = [done for done in range(1, 26) if worth_telling(done, 25)]
    assert told == [1, 10, 20, 25]
    assert [d for d in range(1, 7) if worth_telling(d, 6, every=3)] == [1, 3, 6]


EVALUATION = {"heldout": {
    "base": {"citation_precision": 0.5, "words_per_answer": 41.25, "total_p50_ms": 9123.4, "n": 40,
             "outcomes": {"score": -0.1, "correct": 0.3, "missed": 0.3, "wrong": 0.4, "n": 40}},
    "lora": {"citation_precision": 0.625, "abstention": None}}}


def test_the_side_by_side_table_has_the_headline_then_a_row_per_metric_and_a_column_per_form():
    rows = {row[1]: row for row in side_by_side(EVALUATION)}
    assert list(rows) == [*OUTCOMES, *METRICS] and all(row[0] == "heldout" for row in rows.values())
    assert rows["score"][2:] == ["-0.100", "—", "—", "—"] and rows["wrong"][2] == "0.400"  # lora has no outcomes
    assert rows["citation_precision"][2:] == ["0.500", "—", "—", "0.625"]
    assert rows["words_per_answer"][2] == "41.2" and rows["total_p50_ms"][2] == "9123" and rows["n"][2] == "40"
    assert rows["abstention"][5] == "—"  # no unanswerable item in the set


def result(passed: bool, reasons=()) -> dict:
    return {"evaluation": EVALUATION, "served": "lora", "passed": passed, "reasons": list(reasons),
            "base_reused": {"heldout": "2026-12-01T10:00:00+00:00"},
            "gains": {"vs_base": {}, "improves": None, "paired": {}}}


def test_the_gate_lines_carry_the_table_the_reuse_and_the_verdict():
    lines = gate_lines(result(True), Path("/runs/r1"))
    header = next(line for line in lines if line.startswith("eval set"))
    assert header.split() == ["eval", "set", "metric", "base", "merged", "quantized", "base+LoRA"]
    assert sum(line.startswith("heldout ") for line in lines) == len(OUTCOMES) + len(METRICS)
    assert any("reused from its evaluation of 2026-12-01" in line for line in lines)
    assert lines[-1] == "gate passed (lora vs merged): `coursebot adapter use /runs/r1` serves it"
    failed = gate_lines(result(False, ["heldout: score -0.100 lora vs -0.100 base (needs > -0.100)", "x"]), Path("r"))
    assert failed[-1] == "gate FAILED (lora vs merged): heldout: score -0.100 lora vs -0.100 base (needs > -0.100); x"
