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
