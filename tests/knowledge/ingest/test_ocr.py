"""knowledge/ingest/ocr.py and the readers that use it, with the real Tesseract on generated images: scanned pages
keep their page numbers and confidence, unreadable ones are reported (never invented), hostile images refused."""

import io

import pytest

from knowledge.errors import SourceUnreadable
from knowledge.ingest.filetypes import sniff
from knowledge.ingest.ocr import OcrLimits, available, open_image, read_image, read_image_file
from knowledge.ingest.readers import read_units
from tests import files

pytestmark = pytest.mark.skipif(not available(), reason="tesseract-ocr is not installed (make setup installs it)")

SCAN = ("El sobreajuste ocurre cuando un modelo\nmemoriza los datos de entrenamiento y\n"
        "no generaliza a datos nuevos.")


def test_a_rendered_page_is_read_with_high_confidence_and_its_lines():
    read = read_image(files.text_image(SCAN), "scan.png")
    assert read.readable and read.confidence >= 80 and read.score == round(read.confidence)
    assert read.text.splitlines()[0] == "El sobreajuste ocurre cuando un modelo"
    assert "memoriza los datos de entrenamiento" in read.text and "generaliza" in read.text


def test_a_page_it_cannot_read_is_unreadable_and_gives_no_text():
    mush = files.text_image(SCAN, size=9, noise=0.35, blur=1.6)
    read = read_image(mush, "borroso.png")
    assert not read.readable and read.text == "" and read.score == 0
    blank = read_image(files.text_image(""), "blanco.png")
    assert not blank.readable and blank.confidence == 0.0


def test_a_scanned_pdf_page_is_read_keeping_its_page_number(tmp_path):
    pdf = files.scanned_pdf(tmp_path / "lectura.pdf", ["Primera pagina con texto normal del curso.",
                                                      files.text_image(SCAN)])
    units = read_units(pdf, sniff(pdf, 1 << 24))
    assert [(u.loc, bool(u.ocr)) for u in units] == [(1, False), (2, True)]
    assert "memoriza los datos de entrenamiento" in units[1].text and units[1].ocr >= 80
    without = read_units(pdf, "pdf", ocr=None)  # OCR off: the scan is simply not read
    assert [u.loc for u in without] == [1]


def test_an_unreadable_scanned_page_is_reported_and_an_unreadable_file_refused(tmp_path):
    mush = files.text_image(SCAN, size=9, noise=0.35, blur=1.6)
    pdf = files.scanned_pdf(tmp_path / "mixto.pdf", [files.text_image(SCAN), mush])
    units = read_units(pdf, "pdf")
    assert [(u.loc, u.unreadable, bool(u.text)) for u in units] == [(1, False, True), (2, True, False)]
    only_mush = files.scanned_pdf(tmp_path / "ilegible.pdf", [mush])
    with pytest.raises(SourceUnreadable, match="ilegible.pdf: no text found .*OCR could not read it"):
        read_units(only_mush, "pdf")


def test_too_many_scanned_pages_are_refused_before_they_are_all_read(tmp_path):
    pdf = files.scanned_pdf(tmp_path / "libro.pdf", [files.text_image("Capitulo uno")] * 3)
    with pytest.raises(SourceUnreadable, match="more than 2 scanned pages"):
        read_units(pdf, "pdf", ocr=OcrLimits(max_pages=2))


def test_an_image_file_is_one_page_of_a_course(tmp_path):
    slide = files.image_file(tmp_path / "diapositiva.jpg", files.text_image(SCAN).convert("RGB"), "JPEG")
    assert sniff(slide, 1 << 24) == "image"
    [unit] = read_units(slide, "image")
    assert unit.loc_kind == "page" and unit.loc == 1 and "sobreajuste" in unit.text and unit.ocr > 0
    assert read_image_file(slide).readable


@pytest.mark.parametrize("case, expected", [
    ("bomb", "too large to decode safely"),
    ("huge", "6000×5000 pixels exceeds the limit of 25 megapixels"),
    ("truncated", "damaged or truncated"),
    ("not-an-image", "not an image this bot reads"),
    ("gif", "GIF images are not read"),
])
def test_hostile_images_are_refused_with_a_clear_error(tmp_path, case, expected):
    from PIL import Image

    if case == "bomb":
        data = files.png_header_only(tmp_path / "bomba.png", 100_000, 100_000).read_bytes()
    elif case == "huge":
        buf = io.BytesIO()
        Image.new("1", (6000, 5000), 1).save(buf, format="PNG")
        data = buf.getvalue()
    elif case == "truncated":
        buf = io.BytesIO()
        files.text_image(SCAN).save(buf, format="JPEG")
        data = buf.getvalue()[: len(buf.getvalue()) // 2]
    elif case == "gif":
        buf = io.BytesIO()
        files.text_image("hola").save(buf, format="GIF")
        data = buf.getvalue()
    else:
        data = b"%PDF-1.4 not really an image"
    with pytest.raises(SourceUnreadable, match=expected):
        open_image(data, f"{case}.png")


def test_a_file_named_as_an_image_must_be_one(tmp_path):
    fake = tmp_path / "foto.png"
    fake.write_text("# apuntes en markdown\n", encoding="utf-8")
    with pytest.raises(Exception, match="named as an image but its content is not PNG, JPEG or WebP"):
        sniff(fake, 1 << 24)
