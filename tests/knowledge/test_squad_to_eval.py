"""scripts/squad_to_eval.py: a SQuAD-layout set becomes a course folder and a QA set that `coursebot eval` scores."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.core import Knowledge
from knowledge.evaluation.collection import eval_collection
from knowledge.evaluation.metrics import load_items
from knowledge.text import fold
from tests.conftest import REPO

SCRIPT = [sys.executable, str(REPO / "scripts/squad_to_eval.py")]
COURSEBOT = str(Path(sys.executable).parent / "coursebot")
SQUAD_V2 = REPO.parent / "shared/eval/public/squad-es/dev-v2.0-es_small.json"

ARTICLES = {
    "Energía _ solar": [
        ("La energía solar fotovoltaica convierte la luz del sol en electricidad mediante células de silicio. "
         "La primera célula práctica se presentó en 1954 en los laboratorios Bell.",
         [("¿En qué año se presentó la primera célula solar práctica?", "1954"),
          ("¿De qué material son las células?", "silicio")],
         ["¿En qué año se presentó la primera turbina eólica práctica?"]),
        ("Los paneles solares térmicos calientan agua para uso doméstico con colectores planos.",
         [("¿Qué calientan los paneles solares térmicos?", "agua")], []),
    ],
    "Volcanes": [
        ("El Teide, en Tenerife, es el volcán más alto de España con 3715 metros sobre el nivel del mar.",
         [("¿Cuál es la altura del Teide?", "3715 metros")],
         ["¿Cuál es el volcán más alto de Portugal?"]),
        ("Una caldera volcánica se forma cuando la cámara magmática se vacía y el terreno se hunde.",
         [("¿Cuándo se forma una caldera volcánica?", "cuando la cámara magmática se vacía")],
         ["¿Cuándo se forma un géiser?"]),
    ],
}


def squad_json() -> dict:
    data, n = [], 0
    for title, paragraphs in ARTICLES.items():
        paras = []
        for context, answerable, impossible in paragraphs:
            qas = []
            for question, text in answerable:
                n += 1
                # SQuAD lists each annotator's span; the shortest becomes the key fact
                qas.append({"id": f"q{n}", "question": question, "is_impossible": False,
                            "answers": [{"text": f" {text} ", "answer_start": 0},
                                        {"text": f"es {text}", "answer_start": 0}]})
            for question in impossible:
                n += 1
                qas.append({"id": f"q{n}", "question": question, "is_impossible": True, "answers": [],
                            "plausible_answers": [{"text": "x", "answer_start": 0}]})
            paras.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paras})
    return {"version": "v2.0", "data": data}


def convert(tmp_path: Path, *args: str, squad: Path | None = None) -> subprocess.CompletedProcess:
    if squad is None:
        squad = tmp_path / "squad.json"
        squad.write_text(json.dumps(squad_json(), ensure_ascii=False), encoding="utf-8")
    return subprocess.run([*SCRIPT, str(squad), *args], capture_output=True, text=True, timeout=120)


def test_each_paragraph_is_a_gold_file_and_the_questions_alternate_answerable_and_not(tmp_path):
    ran = convert(tmp_path, "--out", str(tmp_path / "out"), "--articles", "2", "--questions", "6")
    assert ran.returncode == 0, ran.stderr
    assert "4 paragraphs of 2 articles" in ran.stdout and "6 questions (3 answerable, 3 unanswerable)" in ran.stdout
    corpus = tmp_path / "out/corpus"
    assert sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.md")) == [
        "energia-solar/parrafo-01.md", "energia-solar/parrafo-02.md", "volcanes/parrafo-01.md",
        "volcanes/parrafo-02.md"]
    assert (corpus / "energia-solar/parrafo-01.md").read_text().startswith("# Energía solar (párrafo 1)\n\n")

    items = load_items(tmp_path / "out/out.jsonl")
    assert [i.answerable for i in items] == [True, False, True, False, True, False]
    for item in items:
        if item.answerable:
            [gold] = item.gold
            paragraph = (corpus / gold["file"]).read_text(encoding="utf-8")
            assert len(item.must_include) == 1 and not item.must_include[0].startswith("es ")  # the shortest span
            assert fold(item.must_include[0]) in fold(paragraph)
        else:
            assert item.gold == [] and item.must_include == []

    again = convert(tmp_path, "--out", str(tmp_path / "again"), "--articles", "2", "--questions", "6")
    assert again.returncode == 0
    assert (tmp_path / "again/again.jsonl").read_text() == (tmp_path / "out/out.jsonl").read_text()  # seeded
    other = convert(tmp_path, "--out", str(tmp_path / "other"), "--articles", "2", "--questions", "6", "--seed", "3")
    assert other.returncode == 0
    assert (tmp_path / "other/other.jsonl").read_text() != (tmp_path / "out/out.jsonl").read_text()


def test_titles_that_fold_alike_keep_their_own_folders(tmp_path):
    data = squad_json()
    data["data"][1]["title"] = "ENERGIA SOLAR"  # folds to the first article's folder name
    squad = tmp_path / "alike.json"
    squad.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    ran = convert(tmp_path, "--out", str(tmp_path / "out"), "--articles", "2", "--questions", "8", squad=squad)
    assert ran.returncode == 0, ran.stderr
    corpus = tmp_path / "out/corpus"
    assert sorted(p.parent.name for p in corpus.rglob("parrafo-01.md")) == ["energia-solar", "energia-solar-2"]
    for item in (i for i in load_items(tmp_path / "out/out.jsonl") if i.answerable):
        assert fold(item.must_include[0]) in fold((corpus / item.gold[0]["file"]).read_text(encoding="utf-8"))


def test_bad_input_is_refused_and_nothing_is_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    busy = convert(tmp_path, "--out", str(out))
    assert busy.returncode == 2 and "exists and is not empty" in busy.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]

    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}')
    bad = convert(tmp_path, "--out", str(tmp_path / "new"), squad=broken)
    assert bad.returncode == 2 and "not a readable SQuAD-layout JSON file" in bad.stderr
    assert not (tmp_path / "new").exists()
    zero = convert(tmp_path, "--out", str(tmp_path / "new"), "--questions", "0")
    assert zero.returncode == 2 and "at least 1" in zero.stderr


def test_coursebot_eval_scores_retrieval_on_the_converted_set(settings, tmp_path):
    assert convert(tmp_path, "--out", str(tmp_path / "out"), "--questions", "6").returncode == 0
    corpus, qa = tmp_path / "out/corpus", tmp_path / "out/out.jsonl"
    env = {**os.environ, "COURSEBOT_DATA_DIR": str(settings.data_dir), "WEAVIATE_URL": settings.weaviate_url,
           "WEAVIATE_GRPC_PORT": str(settings.weaviate_grpc_port), "COURSEBOT_MODELS_DIR": str(settings.models_dir)}
    try:
        ran = subprocess.run([COURSEBOT, "eval", str(qa), "--corpus", str(corpus), "--no-answers", "--json"],
                             env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert ran.returncode == 0, ran.stderr[-2000:]
        hybrid = json.loads(ran.stdout)["retrieval"]["hybrid"]
        assert hybrid["n"] == 3  # the answerable questions
        assert hybrid["hit_at_1"] == 1.0  # each names its own paragraph's words; file-only gold matches its chunk
    finally:
        with Knowledge(settings) as kb:
            kb.with_collection(eval_collection(corpus, settings)).store.drop()


@pytest.mark.skipif(not SQUAD_V2.exists(), reason="../shared/eval/public is absent")
def test_squad_es_v2_gives_a_balanced_set_whose_key_facts_are_in_their_gold_paragraphs(tmp_path):
    ran = convert(tmp_path, "--out", str(tmp_path / "out"), "--articles", "4", "--questions", "60", squad=SQUAD_V2)
    assert ran.returncode == 0, ran.stderr
    items = load_items(tmp_path / "out/out.jsonl")
    assert len(items) == 60 and sum(i.answerable for i in items) == 30
    for item in items:
        if item.answerable:
            paragraph = (tmp_path / "out/corpus" / item.gold[0]["file"]).read_text(encoding="utf-8")
            assert fold(item.must_include[0]) in fold(paragraph)
