"""Read a course file into units that keep their place: PDF pages, slides, notebook cells, sections.

Each reader returns `Unit`s; `knowledge.ingest.chunking` turns them into LlamaIndex nodes. Parsers only run
on files that `knowledge.ingest.filetypes.sniff` accepted. PDF pages without a text layer (scans) and slide
images are read by OCR (`knowledge.ingest.ocr`); such a unit records its confidence, and a page OCR cannot read
is kept as an empty, `unreadable` unit so the indexer can report it (it is never indexed).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceUnreadable
from . import ocr as ocr_engine
from .ocr import OcrLimits

log = logging.getLogger(__name__)

MAX_OUTPUT_CHARS = 400  # text kept from a notebook cell's outputs
MAX_CSV_ROWS = 300
CSV_ROWS_PER_UNIT = 20
SCANNED_PAGE_CHARS = 20  # a PDF page with less extracted text than this is read by OCR
READERS_VERSION = 2  # bump when a reader reads more than before: files that failed are then tried again


@dataclass
class Unit:
    """A piece of a file with its location: page/slide/cell number (1-based pages and slides,
    0-based cells, as the evaluation set counts them), and the section heading it falls under."""

    text: str
    loc_kind: str | None = None  # "page" | "slide" | "cell" | None
    loc: int | None = None
    section: str = ""
    ocr: int = 0  # mean OCR word confidence (1–100) when the text was read from an image; 0 otherwise
    unreadable: bool = False  # an image page OCR could not read: reported, never indexed


def read_units(path: Path, kind: str, max_pages: int = 2000, ocr: OcrLimits | None = OcrLimits()) -> list[Unit]:
    """The file's units, including `unreadable` ones (empty); `ocr=None` reads no images."""
    reader = READERS[kind]
    try:
        if kind == "pdf":
            units = reader(path, max_pages, ocr)
        elif kind == "image":
            units = reader(path, ocr)
        else:
            units = reader(path, max_pages) if kind == "pptx" else reader(path)
    except SourceUnreadable:
        raise
    except Exception as e:  # parsers raise many types on malformed input; name the file and the cause
        raise SourceUnreadable(f"{path.name}: could not be read as {kind} ({type(e).__name__}: {e})") from e
    units = [u for u in units if u.text.strip() or u.unreadable]
    if not any(u.text.strip() for u in units):
        if any(u.unreadable for u in units):
            raise SourceUnreadable(f"{path.name}: no text found (no text layer, and OCR could not read it with "
                                   "confidence: blank, drawings only, or a blurred scan?)")
        hint = " (a scanned PDF, and OCR is not installed here: make setup installs tesseract-ocr)" if (
            kind == "pdf" and (ocr is None or not ocr_engine.available())) else ""
        raise SourceUnreadable(f"{path.name}: no text found{hint}")
    return units


# -- PDF: one unit per page ------------------------------------------------------------------------
def read_pdf(path: Path, max_pages: int, ocr: OcrLimits | None = None) -> list[Unit]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceUnreadable(f"{path.name}: the PDF is password-protected")
        n = len(reader.pages)
    except PdfReadError as e:
        raise SourceUnreadable(f"{path.name}: damaged PDF ({e})") from e
    if n > max_pages:
        raise SourceUnreadable(f"{path.name}: {n} pages exceeds the limit of {max_pages}")
    units, scanned = [], 0
    for i, page in enumerate(reader.pages, start=1):
        text = _clean(page.extract_text() or "")
        if len(text) < SCANNED_PAGE_CHARS and ocr is not None and ocr_engine.available():
            scanned += 1
            if scanned > ocr.max_pages:
                raise SourceUnreadable(f"{path.name}: more than {ocr.max_pages} scanned pages to read by OCR "
                                       "(split the file, or add a text layer)")
            units.append(_ocr_unit(ocr_engine.render_pdf_page(path, i - 1, ocr), f"{path.name} p. {i}", i, ocr))
        else:
            units.append(Unit(text, "page", i, _first_line(text)))
    return units


# -- Images (PNG/JPEG/WebP: a photographed or exported slide): one page, read by OCR --------------------
def read_image(path: Path, ocr: OcrLimits | None = None) -> list[Unit]:
    if ocr is None or not ocr_engine.available():
        raise SourceUnreadable(f"{path.name}: images are read by OCR, which is not installed here "
                               "(make setup installs tesseract-ocr)")
    return [_ocr_unit(ocr_engine.open_image(path.read_bytes(), path.name, ocr), path.name, 1, ocr)]


def _ocr_unit(image, name: str, page: int, ocr: OcrLimits) -> Unit:
    read = ocr_engine.read_image(image, name, ocr)
    if not read.readable:
        return Unit("", "page", page, "", unreadable=True)
    text = _clean(read.text)
    return Unit(text, "page", page, _first_line(text), ocr=read.score)


# -- PPTX: one unit per slide, with the speaker notes ---------------------------------------------
def read_pptx(path: Path, max_pages: int) -> list[Unit]:
    from pptx import Presentation

    deck = Presentation(str(path))
    if len(deck.slides) > max_pages:
        raise SourceUnreadable(f"{path.name}: {len(deck.slides)} slides exceeds the limit of {max_pages}")
    units = []
    for i, slide in enumerate(deck.slides, start=1):
        title = slide.shapes.title.text_frame.text.strip() if slide.shapes.title is not None else ""
        parts = []
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
            elif getattr(shape, "has_table", False) and shape.has_table:
                parts.extend(" | ".join(c.text for c in row.cells) for row in shape.table.rows)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Notas: {notes}")
        text = _clean("\n".join(parts))
        units.append(Unit(text, "slide", i, title or _first_line(text)))
    return units


# -- DOCX: one unit per section (headings split sections; DOCX has no reliable pages) ----------------
def read_docx(path: Path) -> list[Unit]:
    from docx import Document as DocxDocument

    doc = DocxDocument(str(path))
    blocks = []
    for para in doc.paragraphs:
        style = (para.style.name or "").lower() if para.style is not None else ""
        blocks.append((style.startswith(("heading", "título")) or style == "title", para.text.strip()))
    units = _by_heading(blocks)
    section = units[-1].section if units else ""
    for table in doc.tables:
        rows = [" | ".join(c.text.strip() for c in row.cells) for row in table.rows]
        units.append(Unit(_clean("\n".join(rows)), None, None, section))
    return units


# -- Markdown: by heading, through LlamaIndex's MarkdownNodeParser ------------------------------------
def read_markdown(path: Path) -> list[Unit]:
    from llama_index.core import Document
    from llama_index.core.node_parser import MarkdownNodeParser

    text = path.read_text(encoding="utf-8", errors="replace")
    nodes = MarkdownNodeParser().get_nodes_from_documents([Document(text=text)])
    units = []
    for node in nodes:
        body = node.get_content()
        heading = next((ln.lstrip("#").strip() for ln in body.splitlines() if ln.startswith("#")), "")
        units.append(Unit(_clean(body), None, None, heading))
    return units


# -- HTML: the main text, without scripts, styles or navigation; split by headings ------------------
def read_html(path: Path) -> list[Unit]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8", errors="replace"), "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer", "header", "iframe", "form", "svg"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "pre", "td", "th", "blockquote"]):
        if el.find_parent(["li", "td", "th", "blockquote"]) is not None and el.name not in ("h1", "h2", "h3"):
            continue  # already part of an enclosing element's text
        blocks.append((el.name in ("h1", "h2", "h3", "h4"), el.get_text(" ", strip=True)))
    return _by_heading(blocks, first_section=soup.title.get_text(strip=True) if soup.title else "")


def _by_heading(blocks: list[tuple[bool, str]], first_section: str = "") -> list[Unit]:
    """(is_heading, text) blocks → one unit per section; a heading starts a section and leads its text."""
    units: list[Unit] = []
    section, lines = first_section, []
    for is_heading, text in blocks:
        if not text:
            continue
        if is_heading:
            if lines:
                units.append(Unit(_clean("\n".join(lines)), None, None, section))
            section, lines = text, [text]
        else:
            lines.append(text)
    if lines:
        units.append(Unit(_clean("\n".join(lines)), None, None, section))
    return units


# -- Notebooks: one unit per cell (0-based over all cells); outputs truncated, images dropped --------
def read_notebook(path: Path) -> list[Unit]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    units, section = [], ""
    for i, cell in enumerate(nb.get("cells", [])):
        if not isinstance(cell, dict):
            continue
        source = _join(cell.get("source", ""))
        ctype = cell.get("cell_type")
        if ctype == "markdown":
            heading = next((ln.lstrip("#").strip() for ln in source.splitlines() if ln.startswith("#")), "")
            section = heading or section
            units.append(Unit(_clean(source), "cell", i, section))
        elif ctype == "code":
            text = source
            output = _outputs_text(cell.get("outputs") or [])
            if output:
                text += f"\n# Salida:\n{output}"
            units.append(Unit(text.strip(), "cell", i, section))
    return units


def _outputs_text(outputs: list) -> str:
    parts = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        if out.get("output_type") == "stream":
            parts.append(_join(out.get("text", "")))
        elif out.get("output_type") in ("execute_result", "display_data"):
            parts.append(_join((out.get("data") or {}).get("text/plain", "")))
    text = "\n".join(p for p in parts if p).strip()
    return text[:MAX_OUTPUT_CHARS] + (" …" if len(text) > MAX_OUTPUT_CHARS else "")


# -- Plain text and CSV ----------------------------------------------------------------------------
def read_text(path: Path) -> list[Unit]:
    return [Unit(_clean(path.read_text(encoding="utf-8", errors="replace")))]


def read_csv(path: Path) -> list[Unit]:
    """The header and the first rows, as 'column: value' lines, a unit per block of rows."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        dialect = csv.Sniffer().sniff(text[:4096])
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    header = next(rows, [])
    units, block, first = [], [], 1
    for n, row in enumerate(rows, start=1):
        if n > MAX_CSV_ROWS:
            break
        block.append("; ".join(f"{h}: {v}" for h, v in zip(header, row, strict=False) if v))
        if len(block) == CSV_ROWS_PER_UNIT:
            units.append(Unit("\n".join(block), None, None, f"filas {first}–{n}"))
            block, first = [], n + 1
    if block:
        units.append(Unit("\n".join(block), None, None, f"filas {first}–{first + len(block) - 1}"))
    return units


READERS = {
    "pdf": read_pdf, "pptx": read_pptx, "docx": read_docx, "markdown": read_markdown, "html": read_html,
    "notebook": read_notebook, "text": read_text, "csv": read_csv, "image": read_image,
}


# -- small text helpers ----------------------------------------------------------------------------
_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n{3,}")


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\x00", "")
    text = _SPACES.sub(" ", text)
    return _BLANKS.sub("\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()


def _join(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _first_line(text: str, max_len: int = 90) -> str:
    for line in text.splitlines():
        line = line.strip()
        if len(line) >= 3:
            return line if len(line) <= max_len else ""
    return ""
