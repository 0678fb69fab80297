"""`coursebot bench`: the options (offline), and `--quick` end to end through the CLI against the session's
Weaviate server and the tiny model — every section measured, with targets and baselines, and nothing left
behind but the reusable synthetic collection."""

from __future__ import annotations

import json
import math

import pytest
import typer
from typer.testing import CliRunner

from bench.cli import SAMPLE_COURSE, make_plan, register
from bench.measure import SECTIONS
from knowledge.cli import app
from knowledge.store import connect
from tests.conftest import MODELS_DIR

runner = CliRunner()


def test_quick_defaults_explicit_options_win_and_unknown_sections_are_refused():
    plan = make_plan(True, None, None, None, None, None, "rss, throughput")
    assert plan.corpus == SAMPLE_COURSE and plan.qa == SAMPLE_COURSE / "preguntas.jsonl"
    assert (plan.questions, plan.synthetic, plan.concurrent) == (2, 2_000, 2)
    assert plan.sections == ["ingest", "retrieval", "synthetic", "answers", "follow_ups", "server", "media"]
    plan = make_plan(True, SAMPLE_COURSE, None, 3, 500, 4, "")
    assert (plan.questions, plan.synthetic, plan.concurrent, plan.sections) == (3, 500, 4, list(SECTIONS))
    with pytest.raises(typer.BadParameter, match="unknown section.*answer"):
        make_plan(True, None, None, None, None, None, "answer")


@pytest.mark.slow  # ~85 s on 2 shared cores; the pure pieces are tested in CI
@pytest.mark.timeout(400)
def test_quick_bench_measures_every_section_against_targets_and_baselines(weaviate_server, tmp_path, monkeypatch):
    for var in ("COURSEBOT_COLLECTION", "DATABASE_URL", "COURSEBOT_GENERATOR_MODEL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in {"COURSEBOT_DATA_DIR": tmp_path / "data", "WEAVIATE_URL": weaviate_server.url,
                       "WEAVIATE_GRPC_PORT": weaviate_server.grpc_port, "COURSEBOT_MODELS_DIR": MODELS_DIR}.items():
        monkeypatch.setenv(var, str(value))
    if "bench" not in {c.name for c in app.registered_commands}:
        register(app)

    result = runner.invoke(app, ["bench", "--quick", "--out", str(tmp_path / "out")])

    assert result.exit_code == 0, result.output
    [json_path] = (tmp_path / "out").glob("bench-*.json")
    data = json.loads(json_path.read_text())
    assert list(data["sections"]) == list(SECTIONS)
    figures = [f for section in data["sections"].values() for f in section]
    for section, rows in data["sections"].items():
        assert all(isinstance(f["value"], int | float) and math.isfinite(f["value"]) for f in rows), section
        assert any(f["target"] and f["passed"] is not None for f in rows), f"{section}: no target"
        assert any(isinstance(f["baseline"], int | float) for f in rows), f"{section}: no baseline"
    assert data["targets"] >= 6
    assert data["meta"]["model"] == "smollm2-135m-instruct-q4_1.gguf" and data["meta"]["quick"] is True
    assert data["meta"]["synthetic"]["chunks"] == 2_000
    by_name = {f["name"]: f for f in figures}
    assert by_name["refresh, nothing changed: chunks embedded"]["value"] == 0
    assert by_name["bot peak RSS"]["value"] > by_name["bot peak RSS"]["baseline"] > 50  # MB, per process

    md = json_path.with_suffix(".md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| section")]
    assert len(rows) == len(figures)
    for row, f in zip(rows, figures, strict=True):
        assert f" {f['name']} " in row
        assert f["name"] in result.output  # printed as it was measured
    assert "smollm2-135m-instruct-q4_1.gguf" in result.output

    client = connect(weaviate_server.url, weaviate_server.grpc_port)
    try:
        names = set(client.collections.list_all())
        assert not [n for n in names if n.startswith("Bench_")], "throwaway collections must be dropped"
        assert data["meta"]["synthetic"]["collection"] in names  # kept, for the next run to reuse
        client.collections.delete(data["meta"]["synthetic"]["collection"])
    finally:
        client.close()
