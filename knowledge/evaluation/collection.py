"""The evaluation's own collection: one per corpus and chunking, so evaluating never touches the course's index and
a second evaluation of the same corpus reuses the first one's (the refresh finds nothing changed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..ingest.chunking import CHUNKER_VERSION
from ..settings import Settings


def eval_collection(corpus: Path, s: Settings) -> str:
    """The evaluation's own collection, named after the corpus and the chunking settings."""
    key = f"{corpus.resolve()}|{s.chunk_size}|{s.chunk_overlap}|{s.embed_model}|{CHUNKER_VERSION}"
    return "Eval_" + hashlib.sha256(key.encode()).hexdigest()[:12]
