"""Decide what a file is from its bytes, before any parser touches it (uploads are untrusted)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath

from ..errors import FileTooLarge, SourceUnreadable, UnsafePath, UnsupportedFileType

# extension -> kind; the kind decides the reader
EXTENSIONS = {
    ".pdf": "pdf", ".pptx": "pptx", ".docx": "docx", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".ipynb": "notebook", ".txt": "text", ".csv": "csv",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".webp": "image",  # read by OCR
}
IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")  # PNG, JPEG; WebP is RIFF….WEBP
ZIP_KINDS = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml"}
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # an Office file that inflates beyond this is a zip bomb
MAX_COMPRESSION_RATIO = 200


def sha256_file(path: Path) -> str:
    """A file's SHA-256, read in 1 MiB blocks: the version key of a source and the hash of every artifact."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def kind_for_name(name: str) -> str:
    kind = EXTENSIONS.get(Path(name).suffix.lower())
    if kind is None:
        supported = ", ".join(sorted({e.lstrip(".").upper() for e in EXTENSIONS}))
        raise UnsupportedFileType(f"{name}: unsupported file type (supported: {supported})")
    return kind


def sniff(path: Path, max_bytes: int) -> str:
    """Check size and content against the extension; return the kind or raise a specific error."""
    name = path.name
    kind = kind_for_name(name)
    size = path.stat().st_size
    if size == 0:
        raise SourceUnreadable(f"{name}: the file is empty (0 bytes)")
    if size > max_bytes:
        raise FileTooLarge(f"{name}: {size / 1048576:.1f} MB exceeds the limit of {max_bytes / 1048576:.0f} MB")
    with path.open("rb") as f:
        head = f.read(8192)
    if kind == "pdf":
        if b"%PDF-" not in head[:1024]:
            raise UnsupportedFileType(f"{name}: named .pdf but its content is not a PDF")
    elif kind in ZIP_KINDS:
        _check_office_zip(path, kind)
    elif kind == "image":
        if not (head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
            raise UnsupportedFileType(f"{name}: named as an image but its content is not PNG, JPEG or WebP")
    else:
        _check_text(path, head, kind)
    return kind


def _check_office_zip(path: Path, kind: str) -> None:
    name = path.name
    if not zipfile.is_zipfile(path):
        raise UnsupportedFileType(f"{name}: named .{kind} but its content is not an Office document")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = {i.filename for i in infos}
            if ZIP_KINDS[kind] not in names:
                raise UnsupportedFileType(f"{name}: named .{kind} but it is not a {kind.upper()} document")
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
    except zipfile.BadZipFile as e:
        raise SourceUnreadable(f"{name}: damaged Office file ({e})") from e
    if total > MAX_UNZIPPED_BYTES or total / packed > MAX_COMPRESSION_RATIO:
        raise SourceUnreadable(f"{name}: refused, it would inflate to {total / 1048576:.0f} MB "
                               f"(ratio {total / packed:.0f}:1) — looks like a zip bomb")


def _check_text(path: Path, head: bytes, kind: str) -> None:
    name = path.name
    if b"\x00" in head:
        raise UnsupportedFileType(f"{name}: named as {kind} text but the content is binary")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        # a multi-byte character may be cut at the 8 KiB boundary; only fail on a real error
        if e.start < len(head) - 4:
            raise UnsupportedFileType(f"{name}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    if kind == "notebook":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise SourceUnreadable(f"{name}: not a valid notebook (JSON error: {e})") from e
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise SourceUnreadable(f"{name}: not a Jupyter notebook (no 'cells' list)")


_UNSAFE_CHARS = re.compile(r"[^\w.\- ()]+", re.UNICODE)
# Names Windows reserves for devices, whatever the extension: such a file breaks a Windows checkout or copy of
# the materials folder (https://learn.microsoft.com/windows/win32/fileio/naming-a-file).
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10))}


def sanitize_filename(name: str, max_len: int = 120) -> str:
    """A safe single-component file name: no directories, no control or odd characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE_CHARS.sub("_", base).strip(" ._")
    if not base:
        raise UnsafePath(f"{name!r} is not a usable file name")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = stem[: max_len - len(ext) - 1] or "documento"
    if stem.split(".")[0].rstrip().upper() in _WINDOWS_RESERVED:
        first, dot, rest = stem.partition(".")
        stem = f"{first}_{dot}{rest}"
    return f"{stem}.{ext.lower()}" if ext else stem


def safe_join(root: Path, relative: str) -> Path:
    """root/relative, refusing anything that would land outside root."""
    root = root.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise UnsafePath(f"{relative!r} points outside {root}")
    return target
