"""Course files generated for tests, one writer per format (and a few broken ones)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path


def pdf(path: Path, pages: list[str]) -> Path:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_auto_page_break(False)
    for text in pages:
        doc.add_page()
        doc.set_font("Helvetica", "", 12)
        if text:
            doc.multi_cell(0, 7, text.encode("latin-1", "replace").decode("latin-1"))
    doc.output(str(path))
    return path


def encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfReader, PdfWriter

    plain = pdf(path.with_name("plain_" + path.name), ["Contenido secreto del curso."])
    writer = PdfWriter()
    for page in PdfReader(plain).pages:
        writer.add_page(page)
    writer.encrypt(user_password="clave", owner_password="dueño")
    with path.open("wb") as f:
        writer.write(f)
    plain.unlink()
    return path


def docx(path: Path, sections: list[tuple[str, str]]) -> Path:
    from docx import Document

    doc = Document()
    for heading, body in sections:
        doc.add_heading(heading, level=1)
        doc.add_paragraph(body)
    doc.save(str(path))
    return path


def pptx(path: Path, slides: list[tuple[str, str, str]]) -> Path:
    """slides: (title, body, notes)"""
    from pptx import Presentation

    deck = Presentation()
    for title, body, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def notebook(path: Path, cells: list[tuple[str, str]], outputs: dict[int, str] | None = None) -> Path:
    nb_cells = []
    for i, (kind, source) in enumerate(cells):
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            text = (outputs or {}).get(i)
            cell.update(execution_count=None, outputs=[{"output_type": "stream", "name": "stdout",
                                                        "text": text}] if text else [])
        nb_cells.append(cell)
    path.write_text(json.dumps({"cells": nb_cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def text(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def zip_bomb(path: Path, inner: str = "word/document.xml", size_mb: int = 300) -> Path:
    """A small Office-named zip that inflates to hundreds of MB."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open(inner, "w", force_zip64=True) as f:
            block = b"\0" * (1 << 20)
            for _ in range(size_mb):
                f.write(block)
    return path


def all_formats(folder: Path) -> dict[str, Path]:
    """One file of each supported format with known content and locations."""
    folder.mkdir(parents=True, exist_ok=True)
    week = folder / "Semana 03_Redes"
    week.mkdir(exist_ok=True)
    return {
        "pdf": pdf(week / "Clase 5.pdf", [
            "Clase 5: redes neuronales",
            "El perceptron multicapa combina capas densas con funciones de activacion no lineales.",
            "La funcion ReLU devuelve cero para entradas negativas y la identidad para positivas.",
        ]),
        "docx": docx(folder / "guia.docx", [("Entregas", "Los talleres se entregan por el campus virtual "
                                                          "antes del domingo a medianoche."),
                                            ("Bibliografía", "El libro base es Hands-On Machine Learning.")]),
        "pptx": pptx(folder / "repaso.pptx", [("Repaso", "Temas del parcial", ""),
                                              ("Árboles de decisión", "El criterio de Gini mide la impureza.",
                                               "Recordar que la entropía es la alternativa.")]),
        "notebook": notebook(folder / "taller.ipynb", [
            ("markdown", "# Taller de pandas"),
            ("code", "import pandas as pd\ndf = pd.read_csv('ventas.csv')\nprint(df.shape)"),
            ("markdown", "## Agrupación\nUsamos groupby para sumar ventas por región."),
            ("code", "df.groupby('region')['ventas'].sum()"),
        ], outputs={1: "(1200, 8)\n"}),
        "markdown": text(folder / "faq.md", "# Preguntas frecuentes\n\n## Asistencia\nLa asistencia mínima "
                                             "es del 80 por ciento.\n\n## Recuperación\nNo hay examen de "
                                             "recuperación; se repite el proyecto.\n"),
        "html": text(folder / "anuncio.html", "<html><head><title>Anuncio</title><script>alert('x')</script>"
                                               "</head><body><nav>menu</nav><main><h1>Cambio de aula</h1>"
                                               "<p>Desde la semana 4 la clase se dicta en el aula 305.</p>"
                                               "</main></body></html>"),
        "text": text(folder / "notas.txt", "El examen final es el 12 de diciembre a las 9:00.\n"),
        "csv": text(folder / "notas.csv", "estudiante,nota\nAna,4.5\nLuis,3.8\n"),
    }


# -- images, scans and voice notes (read by OCR and Whisper) ---------------------------------------------------
def text_image(text: str, width: int = 1400, size: int = 34, noise: float = 0.0, blur: float = 0.0):
    """A PIL image of `text` as a scanner or a phone would see it (bench/media.py renders it), optionally noised
    and blurred."""
    import random

    from PIL import ImageFilter

    from bench.media import render_text

    image = render_text(text, width, size)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        rng = random.Random(7)
        pixels = image.load()
        for _ in range(int(noise * image.width * image.height)):
            x, y = rng.randrange(image.width), rng.randrange(image.height)
            pixels[x, y] = rng.choice((0, 255))
    return image


def image_file(path: Path, image, fmt: str = "PNG") -> Path:
    image.save(path, format=fmt)
    return path


def scanned_pdf(path: Path, pages: list) -> Path:
    """A PDF whose pages are each a str (a text layer) or a PIL image (a scan: no text layer)."""
    import io

    from fpdf import FPDF

    doc = FPDF()
    doc.set_auto_page_break(False)
    for page in pages:
        doc.add_page()
        if isinstance(page, str):
            doc.set_font("Helvetica", "", 12)
            doc.multi_cell(0, 7, page.encode("latin-1", "replace").decode("latin-1"))
        else:
            buf = io.BytesIO()
            page.save(buf, format="PNG")
            doc.image(buf, x=0, y=0, w=210)
    doc.output(str(path))
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG that claims `width` × `height` pixels: a decompression bomb for any decoder that trusts it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))
    return path


def voice_note(text: str, voice: str = "es", seconds_of_silence: float = 0.0) -> bytes:
    """`text` spoken by espeak-ng (Debian), encoded as Telegram encodes voice notes: OGG/Opus, mono, 48 kHz."""
    from bench.media import speak

    return speak(text, voice, seconds_of_silence)
