"""The materials folder: uploads are staged, checked by content, installed under a safe name and indexed;
a file that fails leaves nothing behind. Blocking code: callers run it with `asyncio.to_thread`."""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from knowledge.core import Knowledge
from knowledge.errors import KnowledgeError, UnsafePath
from knowledge.filetypes import safe_join, sanitize_filename, sha256_file, sniff
from knowledge.ingest import exclusive
from knowledge.refresh import RefreshOutcome, run_refresh
from knowledge.registry import Source, get_source, list_sources
from knowledge.settings import Settings

log = logging.getLogger(__name__)

STAGING = ".incoming"  # hidden: `knowledge.ingest.course_files` skips it, so a refresh never indexes it
LOCK = "refresh.lock"  # in the data dir: the lock `knowledge.refresh.run_refresh` (cron, the bot) holds


def _lock(knowledge: Knowledge):
    """Wait for a running refresh (cron's or ours) before changing the index."""
    return exclusive(knowledge.settings.resolved_data_dir / LOCK, wait=True)


class UploadRejected(KnowledgeError):
    """The indexer could not read the uploaded file; the message is the indexer's own."""


@dataclass
class Installed:
    doc_id: str
    status: str  # added | changed | duplicate
    chunks: int


def document_path(materials_dir: Path, doc_id: str) -> Path | None:
    """The file of an indexed document if it lives in the materials folder."""
    try:
        path = safe_join(materials_dir, doc_id)
    except UnsafePath:
        return None
    return path if path.is_file() else None


def staging_path(materials_dir: Path, file_name: str) -> Path:
    """A fresh path for an upload, under its sanitized name (raises UnsafePath for unusable names)."""
    folder = materials_dir / STAGING / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder / sanitize_filename(file_name)


def discard(staged: Path) -> None:
    shutil.rmtree(staged.parent, ignore_errors=True)


def find_duplicate(knowledge: Knowledge, sha: str) -> Source | None:
    """An indexed source with exactly this content."""
    with knowledge.sessions() as s:
        return next((src for src in list_sources(s, knowledge.collection_name) if src.sha256 == sha), None)


def check(knowledge: Knowledge, staged: Path, max_bytes: int) -> Installed | None:
    """Check size and type by content; an identical indexed file -> `Installed(status="duplicate")`."""
    sniff(staged, max_bytes)
    duplicate = find_duplicate(knowledge, sha256_file(staged))
    return Installed(duplicate.doc_id, "duplicate", duplicate.chunk_count) if duplicate else None


def install(knowledge: Knowledge, staged: Path, materials_dir: Path) -> Installed:
    """Move a checked upload into the materials folder and index it; on any failure restore what was there.

    Under the refresh lock, so a concurrent refresh (cron's) never sees a half-installed file."""
    target = safe_join(materials_dir, staged.name)
    doc_id = target.relative_to(materials_dir.resolve()).as_posix()
    previous = staged.parent / "previous"
    try:
        with _lock(knowledge):
            had_previous = target.is_file()
            if had_previous:
                os.replace(target, previous)
            os.replace(staged, target)
            try:
                outcome = knowledge.indexer.ingest_file(target, materials_dir)
                if outcome.status in ("failed", "still_failing"):
                    raise UploadRejected(outcome.error or f"{doc_id}: could not be indexed")
            except BaseException:
                target.unlink(missing_ok=True)
                if had_previous:
                    os.replace(previous, target)
                _forget_failed_new(knowledge, doc_id)
                raise
    finally:
        discard(staged)
    return Installed(doc_id, "changed" if outcome.status == "changed" else "added", outcome.chunks)


def _forget_failed_new(knowledge: Knowledge, doc_id: str) -> None:
    """A new document that failed leaves no registry row (a changed one keeps its indexed version)."""
    with knowledge.sessions() as s:
        src = get_source(s, knowledge.collection_name, doc_id)
    if src is not None and not src.indexed:
        knowledge.indexer.remove(doc_id)


def find_source(knowledge: Knowledge, name: str) -> list[Source]:
    """Sources named exactly `name`, else those whose file name matches it (case-insensitive)."""
    with knowledge.sessions() as s:
        sources = list_sources(s, knowledge.collection_name)
    exact = [src for src in sources if src.doc_id == name]
    if exact:
        return exact
    wanted = name.strip().lower()
    return [src for src in sources if Path(src.doc_id).name.lower() == wanted
            or Path(src.doc_id).stem.lower() == wanted]


def get_source_by_id(knowledge: Knowledge, source_id: int) -> Source | None:
    with knowledge.sessions() as s:
        src = s.get(Source, source_id)
    return src if src is not None and src.collection == knowledge.collection_name else None


def remove(knowledge: Knowledge, source: Source, materials_dir: Path) -> tuple[int, bool]:
    """Remove a document from the index and, if it lives there, from the materials folder.

    Returns (chunks deleted, file deleted)."""
    with _lock(knowledge):  # the file goes too, so a refresh running next cannot index it again
        deleted = knowledge.indexer.remove(source.doc_id)
        path = document_path(materials_dir, source.doc_id)
        if path is not None and Path(source.root).resolve() == materials_dir.resolve():
            path.unlink()
            return deleted, True
    return deleted, False


def refresh(knowledge: Knowledge, settings: Settings) -> RefreshOutcome:
    """Refresh every configured folder (default: the materials folder), as cron's job does, with its lock and
    golden-set check. Raises RefreshBusy if a refresh is already running."""
    settings.resolved_materials_dir.mkdir(parents=True, exist_ok=True)
    return run_refresh(knowledge, settings.resolved_refresh_folders, pull=settings.refresh_pull,
                       golden=settings.golden_set, max_drop=settings.regression_max_drop, wait=False)
