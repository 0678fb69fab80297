
import pytest

from knowledge.errors import FileTooLarge, SourceUnreadable, UnsafePath, UnsupportedFileType
from knowledge.ingest.filetypes import safe_join, sanitize_filename, sniff
from tests import files


def test_accepts_each_supported_format(tmp_path):
    made = files.all_formats(tmp_path)
    for kind, path in made.items():
        assert sniff(path, 10_000_000) == kind


@pytest.mark.parametrize("name,content,error,message", [
    ("vacio.pdf", b"", SourceUnreadable, "empty"),
    ("falso.pdf", b"hola, no soy un PDF", UnsupportedFileType, "not a PDF"),
    ("binario.txt", b"\x00\x01\x02\xff" * 10, UnsupportedFileType, "binary"),
    ("latin1.md", "año ñandú".encode("latin-1") + b" texto", UnsupportedFileType, "not UTF-8"),
    ("roto.ipynb", b"{no es json", SourceUnreadable, "notebook"),
    ("sin_celdas.ipynb", b'{"metadata": {}}', SourceUnreadable, "cells"),
    ("falso.docx", b"PK\x03\x04 not really a zip", UnsupportedFileType, "not an Office"),
    ("programa.exe", b"MZ\x90\x00", UnsupportedFileType, "unsupported file type"),
])
def test_rejects_with_a_specific_message(tmp_path, name, content, error, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        sniff(path, 10_000_000)


def test_size_limit(tmp_path):
    path = files.text(tmp_path / "grande.txt", "a" * 2048)
    with pytest.raises(FileTooLarge, match="exceeds the limit"):
        sniff(path, 1024)


def test_pptx_named_docx_is_refused(tmp_path):
    deck = files.pptx(tmp_path / "x.pptx", [("t", "b", "")])
    renamed = deck.rename(tmp_path / "x.docx")
    with pytest.raises(UnsupportedFileType, match="not a DOCX"):
        sniff(renamed, 10_000_000)


def test_zip_bomb_is_refused(tmp_path):
    bomb = files.zip_bomb(tmp_path / "bomba.docx")
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(SourceUnreadable, match="zip bomb"):
        sniff(bomb, 10_000_000)


@pytest.mark.parametrize("raw,expected", [
    ("../../etc/passwd", "passwd"),
    ("/abs/path/Clase 3.pdf", "Clase 3.pdf"),
    ("..\\..\\windows\\x.DOCX", "x.docx"),
    ("a\u202eb\u0000c.md", "abc.md"),
    ("Semana 1: ¿qué?.pdf", "Semana 1_ _qué_.pdf"),
])
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_sanitize_refuses_nothing_left():
    with pytest.raises(UnsafePath):
        sanitize_filename("..")


def test_safe_join_stays_inside(tmp_path):
    assert safe_join(tmp_path, "a/b.pdf") == (tmp_path / "a/b.pdf").resolve()
    for bad in ("../x.pdf", "/etc/passwd", "a/../../x"):
        with pytest.raises(UnsafePath):
            safe_join(tmp_path, bad)
