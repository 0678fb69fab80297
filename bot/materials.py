"""The materials folder: uploads are staged, checked by content, installed under a safe name and indexed;
a file that fails leaves nothing behind. Blocking code: the bot runs it on its I/O executor (`Services.blocking`)."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.core import Knowledge
from knowledge.errors import KnowledgeError, UnsafePath
from knowledge.ingest.filetypes import safe_join, sanitize_filename, sha256_file, sniff
from knowledge.leases import hold
from knowledge.refresh import INDEX_LEASE, RefreshOutcome, run_refresh
from knowledge.registry import Source, get_source, list_sources
from knowledge.settings import Settings

log = logging.getLogger(__name__)

STAGING = ".incoming"  # hidden: `knowledge.ingest.indexer.course_files` skips it, so a refresh never indexes it
STAGING_MAX_AGE = 3600.0  # seconds: an older staging folder was left by a crash (an upload takes minutes at most)


def _lock(knowledge: Knowledge):
    """Wait for a running refresh (cron's, ours or another worker's) before changing the index."""
    return hold(knowledge.sessions, INDEX_LEASE, wait=True)


class UploadRejected(KnowledgeError):
    """The indexer could not read the uploaded file; the message is the indexer's own."""


@dataclass
class Installed:
    doc_id: str
    status: str  # added | changed | duplicate
    chunks: int
    unreadable: list[int] = field(default_factory=list)  # scanned pages OCR could not read (left out)


def document_path(materials_dir: Path, doc_id: str) -> Path | None:
    """The file of an indexed document if it lives in the materials folder."""
    try:
        path = safe_join(materials_dir, doc_id)
    except UnsafePath:
        return None
    return path if path.is_file() else None


def staging_path(materials_dir: Path, file_name: str) -> Path:
    """A fresh path for an upload, under its sanitized name (raises UnsafePath for unusable names)."""
    name = sanitize_filename(file_name)  # first: a refused name leaves no folder behind
    folder = materials_dir / STAGING / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder / name


def discard(staged: Path) -> None:
    shutil.rmtree(staged.parent, ignore_errors=True)


def clean_staging(materials_dir: Path, max_age: float = STAGING_MAX_AGE, now: float | None = None) -> list[Path]:
    """Remove staging folders a crash left behind (older than `max_age`); returns what was removed. The installed
    file is never among them: `install` keeps it in place until the new version replaces it."""
    now = time.time() if now is None else now
    removed = []
    for folder in sorted((materials_dir / STAGING).glob("*")) if (materials_dir / STAGING).is_dir() else []:
        if folder.is_dir() and now - folder.stat().st_mtime > max_age:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


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
            if had_previous:  # a copy of the old version, which stays in place: a crash at any point leaves a
                _keep_copy(target, previous)  # complete file at `target`, so no refresh can drop the document
            os.replace(staged, target)  # atomic: the old version or the new one, never neither
            try:
                outcome = knowledge.indexer.ingest_file(target, materials_dir)
                if outcome.status in ("failed", "still_failing"):
                    raise UploadRejected(outcome.error or f"{doc_id}: could not be indexed")
            except BaseException:
                if had_previous:
                    os.replace(previous, target)  # the old version back, atomically
                else:
                    target.unlink(missing_ok=True)
                _forget_failed_new(knowledge, doc_id)
                raise
    finally:
        discard(staged)
    return Installed(doc_id, "changed" if outcome.status == "changed" else "added", outcome.chunks,
                     outcome.unreadable)


def _keep_copy(path: Path, copy: Path) -> None:
    """A second name for `path` (a hard link: no bytes copied), or a copy where links are not supported."""
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)


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


def source_key(source: Source) -> str:
    """A source's stable key, for buttons: a digest of its collection, path and indexed version. A button made for
    one version of a document never matches another version, nor another document that reuses its row id."""
    name = f"{source.collection}\x00{source.doc_id}\x00{source.sha256}"
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def find_by_key(knowledge: Knowledge, key: str) -> Source | None:
    """The indexed source whose `source_key` is `key` (None: it was removed or has changed since)."""
    with knowledge.sessions() as s:
        sources = list_sources(s, knowledge.collection_name)
    return next((src for src in sources if src.indexed and source_key(src) == key), None)


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
