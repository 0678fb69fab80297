"""Hybrid retrieval through LlamaIndex's WeaviateVectorStore, returning chunks with provenance."""

from __future__ import annotations

from dataclasses import dataclass

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from weaviate.classes.query import HybridFusion

from .errors import StoreUnavailable
from .ingest.chunking import location_label
from .store import ChunkStore, translate_errors

# BM25 over the chunk text only: the context line (week topic · title · section) is shared by many chunks of
# a file and, searched too, pulled whole files up (dev set: MRR 0.750 → 0.783 at alpha 0.5); it stays in the
# embedded text, where it helps.
SEARCHED_PROPERTIES = ["text"]


@dataclass
class Hit:
    """A retrieved chunk and where it comes from."""

    node_id: str
    file: str
    title: str
    section: str
    loc_kind: str
    loc_start: int
    loc_end: int
    week: int
    score: float
    text: str
    similarity: float | None = None  # cosine of the chunk's vector to the question's
    ocr: int = 0  # the text was read from a scan or an image by OCR, with this mean confidence (0 = it was not)

    @property
    def location(self) -> str:
        return location_label(self.loc_kind, self.loc_start, self.loc_end)

    @property
    def label(self) -> str:
        """'Clase 27, págs. 9–10' — how a citation names this chunk ('… (OCR)' when read from a scan)."""
        label = ", ".join(p for p in (self.title, self.location) if p)
        return f"{label} (OCR)" if self.ocr else label

    def provenance(self) -> dict:
        """The documented JSON shape: file, title, page | pages | slide | slides | cell | cells, and
        ocr_confidence when the text was read by OCR."""
        out: dict = {"file": self.file, "title": self.title}
        if self.loc_kind:
            if self.loc_start == self.loc_end:
                out[self.loc_kind] = self.loc_start
            else:
                out[self.loc_kind + "s"] = [self.loc_start, self.loc_end]
        if self.ocr:
            out["ocr_confidence"] = self.ocr
        return out

    def to_dict(self) -> dict:
        return {**self.provenance(), "section": self.section, "score": round(self.score, 4), "text": self.text}


def build_filters(week: int | None = None, file: str | None = None) -> MetadataFilters | None:
    """Metadata filters for a week and/or a file (pure; tested without a server)."""
    filters = []
    if week is not None:
        filters.append(MetadataFilter(key="week", value=week, operator=FilterOperator.EQ))
    if file is not None:
        filters.append(MetadataFilter(key="file", value=file, operator=FilterOperator.EQ))
    return MetadataFilters(filters=filters) if filters else None


@dataclass
class Retriever:
    store: ChunkStore
    embedder: BaseEmbedding
    top_k: int = 5
    alpha: float = 0.5

    def search(self, query: str, k: int | None = None, alpha: float | None = None,
               week: int | None = None, file: str | None = None) -> list[Hit]:
        """Hybrid search: alpha=1 is vectors only, alpha=0 BM25 only (relative-score fusion)."""
        k = k or self.top_k
        alpha = self.alpha if alpha is None else alpha
        embedding = self.embedder.get_query_embedding(query) if alpha > 0 else None
        q = VectorStoreQuery(query_embedding=embedding, query_str=query, similarity_top_k=k,
                             mode=VectorStoreQueryMode.HYBRID, filters=build_filters(week, file))
        # alpha goes through the kwargs: the store turns alpha=0.0 into 0.5 (`query.alpha or 0.5`).
        with translate_errors("searching"):
            try:
                result = self.store.vector_store().query(
                    q, alpha=alpha, query_properties=SEARCHED_PROPERTIES, include_vector=embedding is not None,
                    fusion_type=HybridFusion.RELATIVE_SCORE)
            except ValueError as e:  # the store wraps query errors in ValueError
                raise StoreUnavailable(f"search failed: {e}") from e
        hits = []
        for node, score in zip(result.nodes or [], result.similarities or [], strict=False):
            m = node.metadata
            similarity = None
            if embedding is not None and node.embedding:
                similarity = float(sum(a * b for a, b in zip(embedding, node.embedding, strict=False)))
            hits.append(Hit(node.node_id, m.get("file", ""), m.get("title", ""), m.get("section", ""),
                            m.get("loc_kind", ""), int(m.get("loc_start") or 0), int(m.get("loc_end") or 0),
                            int(m.get("week") or 0), float(score), node.get_content(), similarity,
                            int(m.get("ocr") or 0)))
        return hits
