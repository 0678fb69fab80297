"""Ingestion and incremental refresh: files → chunks → embeddings → Weaviate, tracked in the registry.

Per file, in this order, so that an interruption at any point converges on the next run:
1. parse, chunk and embed entirely in memory (a failure here changes nothing in the index);
2. upsert the new version's chunks (ids derive from path + file hash + position, so a repeat
   overwrites instead of duplicating);
3. delete the chunks of any other version of that file;
4. record the indexed version in the registry.
If the run stops between 2 and 4, the registry still names the old version: the next run re-does the
file, and `sweep` deletes chunks whose (file, version) the registry does not name.
Unchanged files are skipped by hash; inside a changed file, chunks whose embedded text is unchanged
reuse their stored vectors.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from llama_index.core.base.embeddings.base import BaseEmbedding
from sqlalchemy.orm import Session, sessionmaker

from ..database import with_retry
from ..errors import (
    FileTooLarge,
    SourceNotFound,
    SourceUnreadable,
    UnsafePath,
    UnsupportedFileType,
)
from ..registry import Source, get_source, list_sources, utcnow
from ..store import ChunkStore
from . import ocr as ocr_engine
from .chunking import CHUNKER_VERSION, describe, make_nodes
from .filetypes import EXTENSIONS, sha256_file, sniff
from .ocr import OcrLimits
from .readers import READERS_VERSION, read_units

log = logging.getLogger(__name__)

# What makes a file fail (recorded, index untouched); store errors propagate and stop the run.
FILE_ERRORS = (SourceUnreadable, UnsupportedFileType, FileTooLarge, UnsafePath)
Progress = Callable[[str, int, int], None]  # (file, done, total)


@dataclass
class ChangeReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # {"file", "error"}: failed in this run
    still_failing: list[dict] = field(default_factory=list)  # same bad version as last time, not re-read
    unreadable: list[dict] = field(default_factory=list)  # {"file", "pages"}: indexed, but OCR could not read these
    chunks_written: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.failed)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FileOutcome:
    doc_id: str
    status: str  # added | changed | unchanged | failed | still_failing
    chunks: int = 0
    embedded: int = 0
    error: str | None = None
    unreadable: list[int] = field(default_factory=list)  # image pages OCR could not read (not indexed)


def failure_key(sha256: str) -> str:
    """What a failed attempt depended on: the file's bytes, the chunker, the readers and whether OCR is installed;
    a file is tried again when any of them changes."""
    return hashlib.sha256(f"{sha256}\0{CHUNKER_VERSION}\0{READERS_VERSION}\0{ocr_engine.available()}".encode()
                          ).hexdigest()


def version_key(sha256: str, chunker: int) -> str:
    """What chunks record as their file version: the file's hash and the chunker that cut it."""
    return f"{sha256}:{chunker}"


def course_files(root: Path) -> list[Path]:
    """Supported files under root, skipping hidden files and folders, in a stable order."""
    if root.is_file():
        return [root]
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.suffix.lower() in EXTENSIONS:
            files.append(path)
    return sorted(files)


@dataclass
class Indexer:
    store: ChunkStore
    embedder: BaseEmbedding
    sessions: sessionmaker[Session]
    chunk_size: int = 900
    chunk_overlap: int = 150
    max_file_bytes: int = 20 * 1024 * 1024
    max_pages: int = 2000
    max_chunks: int = 5000  # fragments per file; the stored-vector lookup reads at most 10,000
    ocr: OcrLimits | None = field(default_factory=OcrLimits)  # None: scans and images are not read

    # -- one file ----------------------------------------------------------------------------------
    def ingest_file(self, path: Path, root: Path) -> FileOutcome:
        """Index one file (root decides its id); unchanged versions are skipped."""
        root = root.resolve()
        if not path.resolve().is_relative_to(root):  # a symbolic link out of the folder: not followed
            link = Path(os.path.abspath(path))
            doc_id = link.relative_to(root).as_posix() if link.is_relative_to(root) else link.name
            error = f"{doc_id}: a symbolic link to a file outside the course folder (links out of it are not followed)"
            log.warning("not indexed: %s", error)
            return FileOutcome(doc_id, "failed", error=error)
        path = path.resolve()
        doc_id = path.relative_to(root).as_posix()
        sha = sha256_file(path)
        with self.sessions() as s:
            src = get_source(s, self.store.name, doc_id)
        if src and src.sha256 == sha and src.chunker == CHUNKER_VERSION:
            if src.error:  # an earlier failed version was replaced by the indexed one again
                self._record(doc_id, root, sha, src.kind, path.stat().st_size, src.chunk_count)
            return FileOutcome(doc_id, "unchanged", src.chunk_count)
        if src and src.error_sha == failure_key(sha):
            return FileOutcome(doc_id, "still_failing", error=src.error)
        try:
            kind = sniff(path, self.max_file_bytes)
            units = read_units(path, kind, self.max_pages, self.ocr)
            unreadable = [u.loc for u in units if u.unreadable]
            units = [u for u in units if not u.unreadable]
            nodes = make_nodes(units, describe(doc_id, version_key(sha, CHUNKER_VERSION)), self.chunk_size,
                               self.chunk_overlap)
            if len(nodes) > self.max_chunks:
                raise FileTooLarge(f"{doc_id}: {len(nodes)} fragments exceeds the limit of {self.max_chunks} per "
                                   "file (split it into smaller files)")
        except FILE_ERRORS as e:
            self._record_failure(doc_id, root, sha, str(e))
            log.warning("not indexed: %s", e)
            return FileOutcome(doc_id, "failed", error=str(e))
        embedded = self._embed(nodes, doc_id if src and src.indexed else None)
        self.store.add(nodes)
        self.store.delete_doc(doc_id, keep_version=version_key(sha, CHUNKER_VERSION))
        self._record(doc_id, root, sha, kind, path.stat().st_size, len(nodes))
        if unreadable:
            log.warning("%s: indexed without pages %s, which OCR could not read", doc_id, unreadable)
        return FileOutcome(doc_id, "changed" if src and src.indexed else "added", len(nodes), embedded,
                           unreadable=unreadable)

    def _embed(self, nodes, previous_doc: str | None) -> int:
        """Attach embeddings, reusing stored vectors for chunks whose embedded text is unchanged."""
        known = self.store.vectors_by_text_sha(previous_doc) if previous_doc else {}
        todo = []
        for node in nodes:
            vec = known.get(node.metadata["text_sha"])
            if vec is not None:
                node.embedding = vec
            else:
                todo.append(node)
        if todo:
            texts = [n.get_content(metadata_mode="embed") for n in todo]
            for node, vec in zip(todo, self.embedder.get_text_embedding_batch(texts), strict=True):
                node.embedding = vec
        return len(todo)

    def _record(self, doc_id: str, root: Path, sha: str, kind: str | None, size: int, chunks: int) -> None:
        def write():
            with self.sessions.begin() as s:
                src = get_source(s, self.store.name, doc_id) or Source(collection=self.store.name, doc_id=doc_id)
                src.root, src.sha256, src.kind, src.size, src.chunk_count = str(root), sha, kind, size, chunks
                src.chunker = CHUNKER_VERSION
                src.indexed_at, src.error, src.error_sha = utcnow(), None, None
                s.add(src)
        with_retry(write)

    def _record_failure(self, doc_id: str, root: Path, sha: str, error: str) -> None:
        def write():
            with self.sessions.begin() as s:
                src = get_source(s, self.store.name, doc_id) or Source(collection=self.store.name, doc_id=doc_id,
                                                                        root=str(root))
                src.error, src.error_sha = error, failure_key(sha)
                s.add(src)
        with_retry(write)

    # -- many files --------------------------------------------------------------------------------
    def ingest(self, paths: list[Path], progress: Progress | None = None) -> ChangeReport:
        """Index files and folders (a folder is its own root; a file's root is its folder)."""
        report, start = ChangeReport(), time.monotonic()
        jobs = []
        for given in paths:
            p = Path(os.path.abspath(given))  # not resolved: a file named here may be a link out of its folder
            root = p.resolve() if p.is_dir() else p.parent.resolve()
            jobs += [(f, root) for f in course_files(root if p.is_dir() else root / p.name)]
        for i, (path, root) in enumerate(jobs):
            if progress:
                progress(path.name, i, len(jobs))
            self._count(report, self.ingest_file(path, root))
        report.seconds = time.monotonic() - start
        return report

    def refresh(self, root: Path, progress: Progress | None = None) -> ChangeReport:
        """Bring the index in line with a folder: add new, re-index changed, drop vanished files."""
        root = root.resolve()
        report = self.ingest([root], progress)
        start = time.monotonic() - report.seconds
        present = {p.relative_to(root).as_posix() for p in course_files(root)}
        with self.sessions() as s:
            gone = [src.doc_id for src in list_sources(s, self.store.name)
                    if src.root == str(root) and src.doc_id not in present]
        for doc_id in gone:
            self.remove(doc_id)
            report.removed.append(doc_id)
        self.sweep()
        report.seconds = time.monotonic() - start
        return report

    def remove(self, doc_id: str) -> int:
        """Remove a source from the index and the registry."""
        with self.sessions() as s:
            src = get_source(s, self.store.name, doc_id)
        if src is None:
            raise SourceNotFound(f"{doc_id} is not an indexed source")
        deleted = self.store.delete_doc(doc_id)

        def forget():
            with self.sessions.begin() as s:
                row = get_source(s, self.store.name, doc_id)
                if row is not None:
                    s.delete(row)
        with_retry(forget)
        return deleted

    def sweep(self) -> int:
        """Delete chunks whose (file, version) the registry does not name: leftovers of interrupted runs."""
        with self.sessions() as s:
            indexed = {src.doc_id: version_key(src.sha256, src.chunker)
                       for src in list_sources(s, self.store.name) if src.indexed}
        stale: set[tuple[str, str]] = set()
        for obj in self.store.collection.iterator(return_properties=["file", "doc_version"]):
            f, sha = obj.properties.get("file"), obj.properties.get("doc_version")
            if indexed.get(f) != sha:
                stale.add((f, sha))
        for f, _sha in stale:
            if f in indexed:
                self.store.delete_doc(f, keep_version=indexed[f])
            else:
                self.store.delete_doc(f)
        if stale:
            log.info("swept stale chunks of %d file versions", len(stale))
        return len(stale)

    @staticmethod
    def _count(report: ChangeReport, outcome: FileOutcome) -> None:
        if outcome.status in ("failed", "still_failing"):
            getattr(report, outcome.status).append({"file": outcome.doc_id, "error": outcome.error})
        else:
            getattr(report, outcome.status).append(outcome.doc_id)
        if outcome.unreadable:
            report.unreadable.append({"file": outcome.doc_id, "pages": outcome.unreadable})
        if outcome.status in ("added", "changed"):
            report.chunks_written += outcome.chunks
            report.chunks_embedded += outcome.embedded
