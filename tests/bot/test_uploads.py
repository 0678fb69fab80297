"""bot/handlers/uploads.py (+ bot/materials.py): admin uploads are checked, stored safely, indexed — or leave
nothing behind."""

from __future__ import annotations

import pytest

from bot.handlers.questions import STUDENT_DOCUMENT
from knowledge.ingest.ocr import available as ocr_available
from knowledge.registry import list_sources
from tests import files
from tests.bot.test_app import ADMIN, STUDENT, Harness, bot_settings, play, use_tiny_model
from tests.files import encrypted_pdf, pdf

pytestmark = pytest.mark.timeout(180)

PAGES = ["Clase 27: métricas de clasificación. " + "La exactitud cuenta los aciertos sobre el total. " * 14,
         "El coeficiente de correlación de Matthews (MCC) resume la matriz de confusión en un solo número "
         "entre -1 y 1; es robusto cuando las clases están desbalanceadas. " * 5,
         "La curva ROC muestra la tasa de verdaderos positivos frente a la de falsos positivos. " * 8]


@pytest.fixture
def setup(settings, kb):
    # The tiny model writes gibberish: thresholds calibrated for the real model would decline everything.
    use_tiny_model(settings)
    settings.abstain_min_support = settings.abstain_min_similarity = 0.0
    settings.answer_check = "overlap"
    return bot_settings(settings), kb


def stored(settings) -> list[str]:
    """Every file under the materials folder (hidden staging included)."""
    root = settings.resolved_materials_dir
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def sources(kb) -> list[str]:
    with kb.sessions() as s:
        return [src.doc_id for src in list_sources(s, kb.collection_name)]


def status(h: Harness, chat_id: int = ADMIN) -> list[str]:
    """The versions of the last status message, oldest first."""
    last = h.last(chat_id)
    return [v["text"] for v in last["history"]] + [last["text"]]


def test_an_uploaded_pdf_is_indexed_and_answers_cite_its_page(setup, tmp_path):
    settings, kb = setup
    data = pdf(tmp_path / "Clase 27.pdf", PAGES).read_bytes()

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "Clase 27.pdf", data, mime_type="application/pdf")
        versions = status(h)
        assert versions[0] == "📥 Recibí «Clase 27.pdf». Descargando…"
        assert versions[1:3] == ["🔍 Revisando «Clase 27.pdf»…", "⚙️ Indexando «Clase 27.pdf»… (puede tardar un poco)"]
        assert versions[-1].startswith("✅ «Clase 27.pdf» agregado: ") and "fragmentos indexados" in versions[-1]
        assert (settings.resolved_materials_dir / "Clase 27.pdf").read_bytes() == data
        assert stored(settings) == ["Clase 27.pdf"]  # the staging folder is gone

        await h.send_text(STUDENT, "¿Qué es el coeficiente de correlación de Matthews?")
        answer = h.last(STUDENT)
        assert answer["history"][1]["text"].startswith("🔎 Buscando en: Clase 27, pág. 2")
        assert "Fuentes" in answer["text"] and "Clase 27, pág. 2" in answer["text"].split("Fuentes")[1]

        await h.send_document(ADMIN, "copia.pdf", data)  # the same bytes under another name
        assert status(h)[-1].startswith("ℹ️ Ya tengo este archivo: es idéntico a «Clase 27.pdf»")
        assert stored(settings) == ["Clase 27.pdf"] and sources(kb) == ["Clase 27.pdf"]

    play(settings, kb, scenario)


@pytest.mark.skipif(not ocr_available(), reason="tesseract-ocr is not installed (make setup)")
def test_a_scanned_pdf_and_a_slide_image_are_read_by_ocr_and_cited_with_their_page(setup, tmp_path):
    settings, kb = setup
    scan = files.text_image("El coeficiente de Matthews resume la\nmatriz de confusion en un numero.")
    mush = files.text_image("pagina borrosa", size=9, noise=0.35, blur=1.6)
    data = files.scanned_pdf(tmp_path / "Lectura 3.pdf", [PAGES[0], scan, mush]).read_bytes()
    slide = files.image_file(tmp_path / "s.png", files.text_image("La curva ROC compara verdaderos\ny falsos "
                                                                  "positivos.")).read_bytes()

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "Lectura 3.pdf", data, mime_type="application/pdf")
        assert status(h)[-1].startswith("✅ «Lectura 3.pdf» agregado: ")
        assert status(h)[-1].endswith("⚠️ No pude leer (escaneadas, ilegibles) las págs. 3: quedaron fuera del "
                                      "índice.")
        await h.send_document(ADMIN, "diapositiva ROC.png", slide, mime_type="image/png")
        assert status(h)[-1].startswith("✅ «diapositiva ROC.png» agregado: ") and "⚠️" not in status(h)[-1]
        await h.send_text(STUDENT, "¿Qué resume el coeficiente de Matthews?")
        answer = h.last(STUDENT)
        assert answer["history"][1]["text"].startswith("🔎 Buscando en: Lectura 3, pág. 2 (OCR)"), answer["history"]

    play(settings, kb, scenario)


def test_a_new_version_replaces_the_old_one(setup, tmp_path):
    settings, kb = setup

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "faq.md", "# FAQ\n\nLa asistencia mínima es del 80 por ciento.\n".encode())
        assert status(h)[-1].startswith("✅ «faq.md» agregado: 1 fragmentos")
        await h.send_document(ADMIN, "faq.md", "# FAQ\n\nLa asistencia mínima es del 70 por ciento.\n".encode())
        assert status(h)[-1].startswith("✅ «faq.md» actualizado: 1 fragmentos")
        assert "70 por ciento" in (settings.resolved_materials_dir / "faq.md").read_text()
        # a broken new version is refused and the old one stays, on disk and in the index
        broken = encrypted_pdf(tmp_path / "faq.pdf").read_bytes()
        await h.send_document(ADMIN, "faq.md", broken)
        assert status(h)[-1].startswith("❌ No pude agregar «faq.md»: faq.md: ")
        assert "70 por ciento" in (settings.resolved_materials_dir / "faq.md").read_text()
        assert stored(settings) == ["faq.md"] and kb.store.chunk_counts() == {"faq.md": 1}

    play(settings, kb, scenario)


@pytest.mark.parametrize(("name", "make", "error"), [
    ("apuntes.pdf", lambda tmp: b"esto no es un PDF", "apuntes.pdf: named .pdf but its content is not a PDF"),
    ("vacio.md", lambda tmp: b"", "vacio.md: the file is empty (0 bytes)"),
    ("cifrado.pdf", lambda tmp: encrypted_pdf(tmp / "cifrado.pdf").read_bytes(), "cifrado.pdf: "),
])
def test_a_file_that_fails_leaves_nothing_behind(setup, tmp_path, name, make, error):
    settings, kb = setup
    data = make(tmp_path)

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, name, data)
        final = status(h)[-1]
        assert final.startswith(f"❌ No pude agregar «{name}»: {error}") and final.endswith("No se guardó nada.")

    play(settings, kb, scenario)
    assert stored(settings) == [] and sources(kb) == [] and kb.store.chunk_counts() == {}


def test_names_are_sanitized_and_never_escape_the_materials_folder(setup):
    settings, kb = setup

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "../../etc/Guía*\x00 1.md", "# Guía\n\nContenido de la guía.\n".encode())
        assert status(h)[-1].startswith("✅ «Guía_ 1.md» agregado")

    play(settings, kb, scenario)
    assert stored(settings) == ["Guía_ 1.md"]
    assert not (settings.resolved_data_dir / "etc").exists()


def test_files_refused_before_downloading(setup):
    settings, kb = setup

    async def scenario(h: Harness) -> None:
        await h.send_document(ADMIN, "grande.pdf", b"%PDF-1.4", file_size=25 * 1024 * 1024)
        assert h.texts(ADMIN)[-1] == "❌ No lo agregué: grande.pdf: pesa 25.0 MB y el máximo es 20.0 MB"
        await h.send_document(ADMIN, "programa.exe", b"MZ")
        assert h.texts(ADMIN)[-1].startswith("❌ No lo agregué: programa.exe: unsupported file type")
        assert "getFile" not in h.request.methods()

    play(settings, kb, scenario)
    assert stored(settings) == []


def test_uploads_from_students_are_refused_and_nothing_is_stored(setup, caplog):
    settings, kb = setup

    async def scenario(h: Harness) -> None:
        await h.send_document(STUDENT, "trampa.md", b"# nada")
        assert h.texts(STUDENT) == [STUDENT_DOCUMENT]  # what the bot reads from students: text
        assert "getFile" not in h.request.methods()

    play(settings, kb, scenario)
    assert stored(settings) == [] and sources(kb) == []
    assert any(f"refused receive_document from non-admin {STUDENT}" in r.getMessage() for r in caplog.records)
