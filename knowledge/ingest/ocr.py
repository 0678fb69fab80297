"""Text from images with Tesseract: scanned PDF pages, slide images uploaded by staff, students' photos.

Images are untrusted: the format is checked from the bytes, the pixel count from the header before anything is
decoded (a decompression bomb is refused, not decoded), a truncated file is an error, and every page has a time
limit. A page whose words Tesseract is not confident about (mean word confidence below `min_confidence`) is
reported unreadable, never turned into invented text.
"""

from __future__ import annotations

import io
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import SourceUnreadable

log = logging.getLogger(__name__)

IMAGE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}  # what PIL may open here


@dataclass(frozen=True)
class OcrLimits:
    languages: str = "spa+eng"  # Tesseract language packs (Debian: tesseract-ocr-spa, -eng)
    min_confidence: float = 60.0  # mean word confidence (0–100) below which a page is unreadable
    max_pixels: int = 25_000_000  # largest image decoded (≈ 5000 × 5000); larger ones are refused
    seconds_per_page: float = 30.0
    dpi: int = 200  # scanned PDF pages are rendered at this resolution (less when that exceeds max_pixels)
    max_pages: int = 200  # scanned pages OCR'd per file


@dataclass(frozen=True)
class OcrText:
    text: str
    confidence: float  # mean word confidence, 0–100
    readable: bool

    @property
    def score(self) -> int:
        """The confidence as a whole number, as chunks record it (0 = not from OCR)."""
        return max(1, round(self.confidence)) if self.readable else 0


def available() -> bool:
    """Whether the Tesseract binary is installed (make setup installs it)."""
    return shutil.which("tesseract") is not None


def open_image(data: bytes, name: str, limits: OcrLimits = OcrLimits()):
    """A decoded PIL image from untrusted bytes, or SourceUnreadable saying why not."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))  # reads the header only
    except (UnidentifiedImageError, OSError) as e:
        raise SourceUnreadable(f"{name}: not an image this bot reads (PNG, JPEG or WebP)") from e
    except Image.DecompressionBombError as e:
        raise SourceUnreadable(f"{name}: refused, the image is too large to decode safely") from e
    if image.format not in IMAGE_FORMATS:
        raise SourceUnreadable(f"{name}: {image.format} images are not read (PNG, JPEG or WebP)")
    width, height = image.size
    if width * height > limits.max_pixels:
        raise SourceUnreadable(f"{name}: {width}×{height} pixels exceeds the limit of "
                               f"{limits.max_pixels / 1e6:.0f} megapixels")
    try:
        image.load()  # a truncated or corrupt file fails here, before Tesseract sees it
    except (OSError, SyntaxError, ValueError) as e:
        raise SourceUnreadable(f"{name}: the image is damaged or truncated ({e})") from e
    return image


def read_image(image, name: str, limits: OcrLimits = OcrLimits()) -> OcrText:
    """OCR one image: its text (lines kept) and the mean confidence of its words."""
    import pytesseract

    gray = image.convert("L")
    try:
        data = pytesseract.image_to_data(gray, lang=limits.languages, output_type=pytesseract.Output.DICT,
                                         timeout=limits.seconds_per_page)
    except RuntimeError as e:  # pytesseract's timeout
        raise SourceUnreadable(f"{name}: OCR took longer than {limits.seconds_per_page:g} s") from e
    except pytesseract.TesseractNotFoundError as e:
        raise SourceUnreadable("OCR is not installed here (tesseract-ocr; make setup installs it)") from e
    lines: dict[tuple, list[str]] = {}
    confidences = []
    for i, word in enumerate(data["text"]):
        confidence = float(data["conf"][i])
        if not word.strip() or confidence < 0:
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        lines.setdefault(key, []).append(word)
        confidences.append(confidence)
    mean = sum(confidences) / len(confidences) if confidences else 0.0
    text = "\n".join(" ".join(words) for words in lines.values())
    readable = bool(text.strip()) and mean >= limits.min_confidence
    if not readable:
        log.info("%s: OCR found no confident text (mean confidence %.0f)", name, mean)
    return OcrText(text if readable else "", round(mean, 1), readable)


def read_bytes(data: bytes, name: str, limits: OcrLimits = OcrLimits()) -> OcrText:
    """OCR an image given as untrusted bytes (open_image's checks, then read_image)."""
    return read_image(open_image(data, name, limits), name, limits)


def read_image_file(path: Path, limits: OcrLimits = OcrLimits()) -> OcrText:
    return read_bytes(path.read_bytes(), path.name, limits)


def render_pdf_page(path: Path, index: int, limits: OcrLimits = OcrLimits()):
    """Page `index` (0-based) of a PDF as a PIL image at `limits.dpi`, scaled down to stay within max_pixels."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        page = pdf[index]
        width, height = page.get_size()  # points (1/72 inch)
        scale = limits.dpi / 72
        if width * height * scale * scale > limits.max_pixels:
            scale = (limits.max_pixels / (width * height)) ** 0.5
        return page.render(scale=scale, grayscale=True).to_pil()
    finally:
        pdf.close()
