"""Checks on the real course in ../shared (skipped when it is absent)."""

import shutil

import pytest

from tests.conftest import SHARED

pytestmark = pytest.mark.shared
COURSE = SHARED / "corpus/ia-aplicada"


def test_lora_question_finds_the_fine_tuning_slides_with_pages(kb, tmp_path):
    week = tmp_path / "curso" / "Semana 14_Fine-Tuning y RAG"
    week.mkdir(parents=True)
    for name in ("Clase 27.pdf", "Script_Clase_28_RAG.ipynb"):
        shutil.copy(COURSE / "Semana 14_Fine-Tuning y RAG" / name, week / name)
    shutil.copy(COURSE / "Semana 09_Fundamentos NLP/Clase 17.pdf", tmp_path / "curso" / "Clase 17.pdf")
    report = kb.indexer.refresh(tmp_path / "curso")
    assert report.failed == []
    hits = kb.retriever.search("qué es LoRA", k=5)
    top = hits[0]
    assert top.file == "Semana 14_Fine-Tuning y RAG/Clase 27.pdf" and top.loc_kind == "page"
    assert 9 <= top.loc_start <= 12 and "LoRA" in top.text
    assert top.week == 14 and top.label.startswith("Clase 27, pág")
