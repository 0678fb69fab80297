"""The `coursebot` CLI through Typer's runner, against the session's Weaviate server."""

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from knowledge.cli import app
from tests import files
from tests.conftest import TINY_MODEL

runner = CliRunner()


@pytest.fixture
def env(settings, monkeypatch):
    values = {"COURSEBOT_DATA_DIR": str(settings.data_dir), "WEAVIATE_URL": settings.weaviate_url,
              "WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port), "COURSEBOT_COLLECTION": settings.collection,
              "COURSEBOT_GENERATOR_MODEL": str(TINY_MODEL), "COURSEBOT_MAX_ANSWER_TOKENS": "24",
              "COURSEBOT_ANSWER_MAX_SOURCES": "2", "COURSEBOT_ANSWER_TOTAL_CHARS": "800"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    yield values
    from knowledge.core import Knowledge
    with Knowledge(settings) as kb:
        kb.store.drop()


def run(*args):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_ingest_search_json_sources_and_status(env, sample_course):
    assert "4 added" in run("ingest", str(sample_course))
    data = json.loads(run("search", "validación cruzada pliegues", "--k", "3", "--json"))
    assert data["query"] == "validación cruzada pliegues" and len(data["results"]) == 3
    first = data["results"][0]
    assert set(first) >= {"file", "title", "score", "text"}
    assert first["file"].endswith("Clase 1_Introducción.pdf") and first["page"] == 6
    listed = json.loads(run("sources", "list", "--json"))
    assert {r["file"] for r in listed} >= {"programa.md"}
    status = json.loads(run("status", "--json"))
    assert status["server_up"] and status["sources"] == 4 and status["chunks"] > 4
    assert status["replication"] == 1 and status["warnings"] == []  # one node: one copy, as configured


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed (make setup)")
def test_ingest_reads_a_scan_by_ocr_and_reports_the_page_it_could_not_read(env, tmp_path):
    course = tmp_path / "escaneos"
    course.mkdir()
    files.scanned_pdf(course / "Guia escaneada.pdf", [files.text_image("La entrega del proyecto final es el\n"
                                                                       "viernes de la semana ocho."),
                                                      files.text_image("borroso", size=9, noise=0.35, blur=1.6)])
    told = runner.invoke(app, ["ingest", str(course)])
    assert told.exit_code == 0 and "Guia escaneada.pdf: pages 2 left out (OCR could not read them)" in told.stdout
    run("sources", "remove", "Guia escaneada.pdf")
    done = runner.invoke(app, ["ingest", str(course), "--json"])
    report = json.loads(done.stdout)
    assert report["added"] == ["Guia escaneada.pdf"] and report["failed"] == []
    assert report["unreadable"] == [{"file": "Guia escaneada.pdf", "pages": [2]}]
    found = json.loads(run("search", "entrega del proyecto final", "--k", "1", "--json"))["results"][0]
    assert found["page"] == 1 and found["ocr_confidence"] >= 60


def test_status_fails_as_a_healthcheck_when_the_generator_file_is_missing(env, monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEBOT_GENERATOR_MODEL", str(tmp_path / "missing.gguf"))
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["generator_present"] is False


def test_status_reports_a_collection_created_without_the_replication_asked_for(env, monkeypatch):
    assert json.loads(run("status", "--json"))["replication"] == 1  # the collection is created: one copy
    monkeypatch.setenv("COURSEBOT_WEAVIATE_REPLICATION", "3")  # asked for later (a cluster: test_cluster.py)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    [warning] = status["warnings"]
    assert status["replication"] == 1 and f"collection {env['COURSEBOT_COLLECTION']} has 1 copy" in warning
    assert "COURSEBOT_WEAVIATE_REPLICATION" in warning


def test_status_checks_a_generator_server_answers(env, monkeypatch):
    from tests.llama_server import free_port

    monkeypatch.setenv("COURSEBOT_GENERATOR_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 1
    status = json.loads(result.stdout)
    assert status["generator_present"] is False and "unavailable" in status["generator_error"]
    assert status["generator"] == os.environ["COURSEBOT_GENERATOR_URL"]


def test_refresh_reports_and_remove(env, sample_course, tmp_path):
    import shutil
    course = tmp_path / "c"
    shutil.copytree(sample_course, course)
    run("refresh", str(course))
    (course / "programa.md").unlink()
    outcome = json.loads(run("refresh", str(course), "--json"))
    assert outcome["report"]["removed"] == ["programa.md"] and outcome["report"]["added"] == []
    assert outcome["exit_code"] == 0
    assert "removed" in run("sources", "remove", "Semana 02_Regularización/lectura_regularizacion.html")


def test_ask_json_matches_the_documented_shape(env, sample_course):
    run("ingest", str(sample_course))
    data = json.loads(run("ask", "¿Qué random_state usamos al dividir los datos?", "--json"))
    assert set(data) == {"question", "answer", "abstained", "citations", "sources", "timings"}
    assert set(data["timings"]) >= {"retrieval_ms", "ttft_ms", "total_ms", "prompt_tokens", "completion_tokens"}
    assert isinstance(data["abstained"], bool) and data["sources"]
    for c in data["citations"]:
        assert set(c) >= {"n", "file", "title"}


def test_errors_become_messages_and_exit_codes(env, tmp_path):
    import sys

    from knowledge.cli import main
    argv = sys.argv
    sys.argv = ["coursebot", "refresh", str(tmp_path / "missing")]
    try:
        with pytest.raises(SystemExit) as exit_info:
            main()
    finally:
        sys.argv = argv
    assert exit_info.value.code == 1


def test_eval_reports_one_outcome_per_question_and_the_paired_comparison(env, sample_course, tmp_path):
    """`coursebot eval --json`: per system the three shares and score = correct − wrong, per type too, and
    the per-item outcomes in --details agree with them (the tiny model: whatever it answers, the sums hold)."""
    details = tmp_path / "details.jsonl"
    result = runner.invoke(app, ["eval", str(sample_course / "preguntas.jsonl"), "--corpus", str(sample_course),
                                 "--limit", "4", "--details", str(details), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the progress lines go to stderr
    rows = [json.loads(line) for line in details.read_text().splitlines()]
    for system in ("pipeline", "llamaindex_default"):
        o = data["answers"][system]["outcomes"]
        assert o["n"] == 4 and abs(o["correct"] + o["missed"] + o["wrong"] - 1) < 1e-3
        assert o["score"] == round(o["correct"] - o["wrong"], 4)
        mine = [r["outcome"] for r in rows if r["system"] == system]
        assert len(mine) == 4 and o["correct"] == mine.count("correct") / 4 and o["wrong"] == mine.count("wrong") / 4
        assert sum(t["n"] for t in o["by_type"].values()) == 4 and set(o["by_type"]) <= {"logistics", "definition"}
    assert data["paired"].startswith("pipeline vs llamaindex_default on the same 4 items")
