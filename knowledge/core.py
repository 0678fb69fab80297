"""`Knowledge`: the knowledge core opened once per process (CLI command, bot) and closed at the end.

It owns the managed Weaviate server (when WEAVIATE_URL is unset), the client, the embedder, the
registry and the collection; `indexer`, `retriever` and (later) the answerer are built from them.
"""

from __future__ import annotations

import logging
from functools import cached_property

import weaviate
from sqlalchemy.orm import Session, sessionmaker

from .answer.abstention import Thresholds
from .answer.answerer import Answerer, AnswerSettings
from .answer.generation import GenerationQueue, LlamaGenerator
from .answer.prompt import PromptShape
from .answer.remote import ServerGenerator
from .database import make_sessionmaker
from .embedding import embedder_id, make_embedder
from .errors import StoreUnavailable
from .ingest.indexer import Indexer
from .ingest.ocr import OcrLimits
from .retrieval import Retriever
from .server import WeaviateServer
from .settings import Settings
from .speech import Transcriber
from .store import ChunkStore, connect

log = logging.getLogger(__name__)


class Knowledge:
    """Open with `with Knowledge(settings) as kb:`; nothing touches the network before `open()`."""

    def __init__(self, settings: Settings, collection: str | None = None):
        self.settings = settings
        self.collection_name = collection or settings.collection
        self.server: WeaviateServer | None = None
        self.client: weaviate.WeaviateClient | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def open(self) -> Knowledge:
        s = self.settings
        if s.weaviate_url:
            self.client = connect(s.weaviate_url, s.weaviate_grpc_port, s.weaviate_api_key)
        else:
            self.server = WeaviateServer(s.weaviate_bin.expanduser(), s.resolved_data_dir / "weaviate").start()
            try:
                self.client = connect(self.server.url, self.server.grpc_port)
            except StoreUnavailable:
                self.server.stop()
                raise
        self.store.ensure()
        return self

    def close(self) -> None:
        if "answerer" in self.__dict__:
            self.answerer.queue.stop()
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> Knowledge:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- parts -------------------------------------------------------------------------------------
    @cached_property
    def embedder(self):
        return make_embedder(self.settings.embed_model, self.settings.embed_batch_size)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.settings.resolved_database_url)

    @property
    def store(self) -> ChunkStore:
        if self.client is None:
            raise StoreUnavailable("the knowledge base is not open")
        return ChunkStore(self.client, self.collection_name, embedder_id(self.embedder),
                          self.settings.weaviate_replication)

    @property
    def indexer(self) -> Indexer:
        s = self.settings
        return Indexer(self.store, self.embedder, self.sessions, s.chunk_size, s.chunk_overlap,
                       s.max_file_bytes, s.max_pages, s.max_chunks_per_file, self.ocr_limits)

    @property
    def ocr_limits(self) -> OcrLimits:
        """How scans, slide images and students' photos are read (knowledge.ingest.ocr)."""
        return OcrLimits(languages=self.settings.ocr_languages, min_confidence=self.settings.ocr_min_confidence)

    @cached_property
    def transcriber(self) -> Transcriber:
        """Voice notes to text; the model loads on the first voice note."""
        s = self.settings
        return Transcriber(s.model_path(s.speech_model), s.n_threads or 0, s.voice_max_seconds)

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.settings.top_k, self.settings.hybrid_alpha)

    @cached_property
    def generator(self) -> LlamaGenerator | ServerGenerator:
        """The answer model: on a server when GENERATOR_URL names one, else loaded here on first use and kept for
        the life of the process."""
        s = self.settings
        if s.generator_url:
            return ServerGenerator(s.generator_url, s.generator_server_model, s.generator_api_key, s.n_ctx,
                                   timeout=s.generator_timeout_seconds, retries=s.generator_retries)
        lora = s.model_path(s.generator_lora) if s.generator_lora else None
        return LlamaGenerator(s.model_path(s.generator_model), s.n_ctx, s.n_threads, lora_path=lora,
                              lora_scale=s.generator_lora_scale, draft_tokens=s.generator_draft_tokens,
                              state_cache_mb=s.generator_state_cache_mb)

    @cached_property
    def answerer(self) -> Answerer:
        s = self.settings
        answer_settings = AnswerSettings(
            shape=PromptShape.from_settings(s), max_answer_tokens=s.max_answer_tokens,
            max_history_turns=s.history_turns, max_question_tokens=s.max_question_tokens,
            thresholds=Thresholds(s.abstain_min_support, s.abstain_min_similarity, s.answer_check),
            cache_seconds=s.answer_cache_minutes * 60)
        workers = s.generator_concurrency if s.generator_url else 1  # a server's slots; one model here
        return Answerer(self.retriever, self.generator, GenerationQueue(workers), answer_settings)

    def with_collection(self, name: str) -> Knowledge:
        """A view on another collection sharing this connection (e.g. the evaluation's)."""
        other = Knowledge(self.settings, name)
        other.client, other.__dict__["embedder"] = self.client, self.embedder
        other.__dict__["sessions"] = self.sessions
        if "generator" in self.__dict__:
            other.__dict__["generator"] = self.generator
        other.store.ensure()
        return other
