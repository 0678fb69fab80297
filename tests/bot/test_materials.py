"""bot/materials.py: the materials folder as the bot manages it (no Telegram here)."""

from __future__ import annotations

import pytest

from bot import materials
from knowledge.errors import UnsafePath
from tests.bot.test_app import indexed_course


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    """programa.md in the materials folder, and notas.md indexed from another folder."""
    root = tmp_path_factory.mktemp("materials")
    with indexed_course(weaviate_server, root, only=("programa.md",)) as (settings, kb):
        elsewhere = root / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "notas.md").write_text("# Notas\n\nLa asistencia mínima es del 80 por ciento.\n")
        kb.indexer.ingest_file(elsewhere / "notas.md", elsewhere)
        yield settings.resolved_materials_dir, elsewhere, kb, settings


def test_document_path_stays_inside_the_folder(course):
    folder, _, _, _ = course
    assert materials.document_path(folder, "programa.md") == folder / "programa.md"
    assert materials.document_path(folder, "../programa.md") is None
    assert materials.document_path(folder, "/etc/passwd") is None
    assert materials.document_path(folder, "notas.md") is None  # indexed, but not stored here


def test_staging_is_hidden_from_refresh_and_sanitized(course):
    folder, _, kb, settings = course
    staged = materials.staging_path(folder, "../../x/Notas finales?.md")
    assert staged.name == "Notas finales_.md" and staged.parent.parent == folder / ".incoming"
    staged.write_text("# Notas\n\nTexto.\n")
    report = materials.refresh(kb, settings).report
    assert report.added == [] and report.unchanged == ["programa.md"]
    materials.discard(staged)
    assert not staged.parent.exists()
    with pytest.raises(UnsafePath):
        materials.staging_path(folder, "../..")


def test_find_source_by_id_name_or_stem(course):
    _, _, kb, _ = course
    assert [s.doc_id for s in materials.find_source(kb, "programa.md")] == ["programa.md"]
    assert [s.doc_id for s in materials.find_source(kb, "PROGRAMA")] == ["programa.md"]
    assert materials.find_source(kb, "nada") == []
    src = materials.find_source(kb, "notas")[0]
    assert materials.get_source_by_id(kb, src.id).doc_id == "notas.md"
    assert materials.get_source_by_id(kb, 10_000) is None


def test_remove_deletes_the_file_only_when_it_lives_in_the_materials_folder(course):
    """Last in the file: it empties the index."""
    folder, elsewhere, kb, _ = course
    programa, notas = materials.find_source(kb, "programa.md")[0], materials.find_source(kb, "notas.md")[0]
    assert materials.remove(kb, programa, folder) == (3, True)
    assert not (folder / "programa.md").exists()
    assert materials.remove(kb, notas, folder) == (1, False)
    assert (elsewhere / "notas.md").exists() and kb.store.chunk_counts() == {}
