"""bot/materials.py: the materials folder as the bot manages it (no Telegram here)."""

from __future__ import annotations

import os

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
    assert materials.find_by_key(kb, materials.source_key(src)).doc_id == "notas.md"
    assert materials.find_by_key(kb, "0" * 16) is None


def test_a_source_key_names_one_version_of_one_document(course):
    """A delete button made for one version never matches another version, nor another document in its row."""
    _, _, kb, _ = course
    src = materials.find_source(kb, "programa.md")[0]
    key = materials.source_key(src)
    assert len(key) == 16 and materials.source_key(src) == key
    changed = type(src)(collection=src.collection, doc_id=src.doc_id, sha256="f" * 64)
    other = type(src)(collection=src.collection, doc_id="otro.md", sha256=src.sha256)
    assert key not in {materials.source_key(changed), materials.source_key(other)}


def test_staging_folders_a_crash_left_are_cleaned_and_fresh_ones_kept(course):
    folder, _, _, _ = course
    old, fresh = materials.staging_path(folder, "viejo.md"), materials.staging_path(folder, "nuevo.md")
    old.write_text("x")
    now = old.parent.stat().st_mtime + materials.STAGING_MAX_AGE + 1
    fresh_time = now - 10
    os.utime(fresh.parent, (fresh_time, fresh_time))
    assert materials.clean_staging(folder, now=now) == [old.parent]
    assert not old.parent.exists() and fresh.parent.exists()
    materials.discard(fresh)


def test_a_crash_while_installing_a_new_version_never_leaves_the_document_missing(course, monkeypatch):
    """Regression: install moved the old file away, then the upload in; a crash between the two renames left no
    file, and the next refresh removed the document from the index. Now the old version stays in place until the
    new one replaces it atomically."""
    folder, _, kb, settings = course
    target = folder / "programa.md"
    old_text = target.read_text()
    staged = materials.staging_path(folder, "programa.md")
    staged.write_text(old_text + "\n\nUna línea nueva.\n")
    real_replace = materials.os.replace

    def crash(src, dst):  # the process dies as the upload is moved in (after any earlier rename)
        if os.fspath(src) == os.fspath(staged):
            raise KeyboardInterrupt("the process dies here")
        real_replace(src, dst)

    monkeypatch.setattr(materials.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        materials.install(kb, staged, folder)
    monkeypatch.setattr(materials.os, "replace", real_replace)
    assert target.read_text() == old_text  # still there, still the indexed version
    report = materials.refresh(kb, settings).report
    assert report.removed == [] and "programa.md" in report.unchanged


def test_remove_deletes_the_file_only_when_it_lives_in_the_materials_folder(course):
    """Last in the file: it empties the index."""
    folder, elsewhere, kb, _ = course
    programa, notas = materials.find_source(kb, "programa.md")[0], materials.find_source(kb, "notas.md")[0]
    assert materials.remove(kb, programa, folder) == (3, True)
    assert not (folder / "programa.md").exists()
    assert materials.remove(kb, notas, folder) == (1, False)
    assert (elsewhere / "notas.md").exists() and kb.store.chunk_counts() == {}
