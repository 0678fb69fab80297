"""bench/report.py: percentiles, targets and their verdicts, the console row, the JSON and Markdown."""

from __future__ import annotations

import json

import pytest

from bench.report import (
    Figure,
    at_least,
    at_most,
    fmt,
    percentile,
    render_markdown,
    render_row,
    report_dict,
    write_report,
)


def test_percentile_interpolates_between_ranks_like_numpy():
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile([1, 2, 3, 4, 5], 95) == pytest.approx(4.8)
    assert percentile([1, 2, 3, 4, 5], 0) == 1 and percentile([1, 2, 3, 4, 5], 100) == 5
    assert percentile([7.5], 95) == 7.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_targets_absolute_and_relative_to_the_baseline():
    assert at_most(50).met(49.9, None) and not at_most(50).met(50.1, None)
    assert at_least(10).met(10, None) and not at_least(10).met(9, None)
    assert at_most(1.3, relative=True).met(12.9, baseline=10) is True
    assert at_most(1.3, relative=True).met(13.1, baseline=10) is False
    assert at_least(0.9, relative=True).met(9.1, baseline=10) is True
    assert at_most(1.3, relative=True).met(1, baseline=None) is None  # no baseline measured: no verdict
    assert at_most(50).text("ms") == "≤ 50 ms" and at_least(0.9, True).text("x") == "≥ 0.90× baseline"


def test_figure_ratio_verdict_and_json_shape():
    f = Figure("retrieval", "hybrid search p95", 40.0, "ms", at_most(50), 10.0, "vector-only search", "n=40")
    assert f.ratio == 4.0 and f.passed is True
    d = f.to_dict()
    assert d["value"] == 40.0 and d["baseline"] == 10.0 and d["ratio"] == 4.0 and d["passed"] is True
    assert d["target"] == {"op": "<=", "limit": 50, "relative": False, "text": "≤ 50 ms"}
    untargeted = Figure("ingest", "throughput", 700.0, "chars/s", baseline=1400.0)
    assert untargeted.passed is None and untargeted.to_dict()["target"] is None


def test_fmt_keeps_integers_whole_and_big_numbers_grouped():
    assert fmt(0) == "0" and fmt(15.0) == "15" and fmt(1536.4) == "1,536"
    assert fmt(7.434) == "7.43" and fmt(27.13) == "27.1" and fmt(None) == "—"


FIGURES = [
    Figure("ingest", "refresh, nothing changed", 0.02, "s", at_most(5), 8.1, "cold ingest"),
    Figure("answers", "TTFT p50", 2500.0, "ms", at_most(2000), 2400.0, "raw llama.cpp"),
    Figure("answers", "a | piped name", 1.0, "×", note="no target, no baseline"),
]


def test_report_groups_figures_by_section_and_counts_targets():
    data = report_dict({"model": "m.gguf"}, FIGURES)
    assert list(data["sections"]) == ["ingest", "answers"] and len(data["sections"]["answers"]) == 2
    assert data["targets"] == 2 and data["targets_met"] == 1
    json.dumps(data)  # serializable as is


def test_markdown_has_one_row_per_figure_with_target_baseline_and_verdict():
    md = render_markdown({"started": "2026-01-01T10:00:00", "model": "m.gguf", "options": {"quick": True}}, FIGURES)
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| section")]
    assert len(rows) == len(FIGURES)
    assert rows[0].startswith("| ingest | refresh, nothing changed | 0.02 s | ≤ 5 s | 8.10 s — cold ingest |")
    assert "| **no** |" in rows[1] and "| yes |" in rows[0]
    assert "a \\| piped name" in rows[2]  # a pipe in a name does not break the table
    assert "- **model**: m.gguf" in md and "options" not in md and "1 of 2 targets met." in md


def test_console_row_shows_value_target_baseline_and_mark():
    row = render_row(FIGURES[1])
    assert "2,500 ms" in row and "≤ 2,000 ms" in row and "2,400 ms raw llama.cpp" in row and row.endswith("✗")


def test_write_report_writes_the_json_and_the_markdown_side_by_side(tmp_path):
    json_path, md_path = write_report(tmp_path / "bench", "20260101-100000", {"model": "m.gguf"}, FIGURES)
    assert json_path.name == "bench-20260101-100000.json" and md_path == json_path.with_suffix(".md")
    assert json.loads(json_path.read_text())["meta"] == {"model": "m.gguf"}
    assert md_path.read_text().count("\n| answers |") == 2
