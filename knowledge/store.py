"""The Weaviate side: connection, the course collection's schema, and the writes LlamaIndex leaves out.

Chunks are LlamaIndex nodes, queried through LlamaIndex's `WeaviateVectorStore`; this module creates the
collection with an explicit schema first (BM25 over the chunk text and its context line, with ASCII
folding and Spanish+English stopwords; every other property filterable only), records which embedder
built it, writes the chunks (checking for rejected objects) and adds per-document listings and counts.
"""

from __future__ import annotations

import hashlib
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlparse

import weaviate
import weaviate.classes as wvc
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.utils import DEFAULT_TEXT_KEY
from llama_index.vector_stores.weaviate import WeaviateVectorStore
from llama_index.vector_stores.weaviate.utils import get_data_object
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.exceptions import WeaviateBaseError

from .errors import EmbedderMismatch, StoreUnavailable
from .text import STOPWORDS_EN, STOPWORDS_ES

log = logging.getLogger(__name__)

WRITE_SLICE = 200  # chunks per write request

_TEXT = dict(data_type=DataType.TEXT, tokenization=Tokenization.WORD,
             text_analyzer=Configure.text_analyzer(ascii_fold=True))
SCHEMA = [
    Property(name="text", index_searchable=True, **_TEXT),
    Property(name="context", index_searchable=True, **_TEXT),
    # Identifiers are matched whole (FIELD tokenization): with the default WORD tokenization an
    # equality filter on "a/RAG.ipynb" also matches "a/RAG_Fine.ipynb", and deletes would hit both.
    *[Property(name=n, data_type=DataType.TEXT, index_searchable=False, index_filterable=True,
               tokenization=Tokenization.FIELD)
      for n in ("file", "title", "topic", "section", "loc_kind", "doc_version", "text_sha", "ingested_at",
                "ref_doc_id", "doc_id", "document_id", "_node_type")],
    Property(name="_node_content", data_type=DataType.TEXT, index_searchable=False, index_filterable=False),
    *[Property(name=n, data_type=DataType.INT, index_filterable=True)
      for n in ("week", "loc_start", "loc_end", "chunk_index", "ocr")],  # ocr: the page's OCR confidence, 0 = none
]


def connect(url: str, grpc_port: int, api_key: str | None = None) -> weaviate.WeaviateClient:
    """A v4 client (HTTP + gRPC) to the server at `url`."""
    parsed = urlparse(url)
    secure = parsed.scheme == "https"
    try:
        client = weaviate.connect_to_custom(
            http_host=parsed.hostname or "127.0.0.1", http_port=parsed.port or (443 if secure else 80),
            http_secure=secure, grpc_host=parsed.hostname or "127.0.0.1", grpc_port=grpc_port,
            grpc_secure=secure, auth_credentials=weaviate.auth.AuthApiKey(api_key) if api_key else None,
            additional_config=wvc.init.AdditionalConfig(timeout=wvc.init.Timeout(init=10, query=30, insert=120)),
            # The init checks include a version lookup on PyPI: no traffic leaves this machine for that.
            skip_init_checks=True,
        )
    except WeaviateBaseError as e:
        raise StoreUnavailable(f"cannot connect to Weaviate at {url}: {e}") from e
    if not client.is_ready():
        client.close()
        raise StoreUnavailable(f"Weaviate at {url} is not ready")
    return client


@contextmanager
def translate_errors(action: str):
    """Turn client errors into StoreUnavailable with what we were doing."""
    try:
        yield
    except WeaviateBaseError as e:
        raise StoreUnavailable(f"Weaviate failed while {action}: {e}") from e


@dataclass
class ChunkStore:
    """One course collection: schema, embedder check, writes and listings."""

    client: weaviate.WeaviateClient
    name: str
    embedder: str  # id of the embedding model that builds this collection
    replication: int = 1  # copies of every shard on a Weaviate cluster (COURSEBOT_WEAVIATE_REPLICATION)
    _vector_store: WeaviateVectorStore | None = field(default=None, init=False, repr=False, compare=False)

    def ensure(self) -> None:
        """Create the collection if missing (with `replication` copies, repaired asynchronously, on a cluster);
        refuse one built by another embedder."""
        with translate_errors(f"preparing collection {self.name}"):
            if not self.client.collections.exists(self.name):
                self.client.collections.create(
                    self.name,
                    description=json.dumps({"embedder": self.embedder}),
                    properties=SCHEMA,
                    vector_config=Configure.Vectors.self_provided(),
                    inverted_index_config=Configure.inverted_index(
                        stopwords_preset=wvc.config.StopwordsPreset.NONE,
                        stopwords_additions=sorted(set(STOPWORDS_ES + STOPWORDS_EN))),
                    # async repair: on by default for a factor > 1 since Weaviate 1.38 (the argument is gone)
                    replication_config=Configure.replication(factor=self.replication)
                    if self.replication > 1 else None,
                )
                return
            self.check_embedder()

    def replication_factor(self) -> int:
        """The copies of each shard the collection was created with (1 = none)."""
        with translate_errors("reading the collection config"):
            config = self.collection.config.get().replication_config
        return getattr(config, "factor", 1) or 1

    def check_embedder(self) -> None:
        built_with = self.recorded_embedder()
        if built_with != self.embedder:
            raise EmbedderMismatch(
                f"collection {self.name} was built with {built_with or 'an unknown embedder'}, "
                f"but {self.embedder} is configured: re-index (coursebot refresh --rebuild) or switch back")

    def recorded_embedder(self) -> str | None:
        with translate_errors("reading the collection config"):
            desc = self.collection.config.get().description or ""
        try:
            return json.loads(desc).get("embedder")
        except ValueError:
            return None

    @property
    def collection(self):
        """The collection; on a replicated one, every read and write waits for a quorum of the copies."""
        collection = self.client.collections.get(self.name)
        if self.replication > 1:
            collection = collection.with_consistency_level(wvc.config.ConsistencyLevel.QUORUM)
        return collection

    def vector_store(self) -> WeaviateVectorStore:
        """LlamaIndex's store on this collection, made once per ChunkStore: making one checks that the collection
        exists and its first query reads the schema — two schema requests, which a cluster forwards to its Raft
        leader (the first one after the leader died waits out the client's timeout), and which a search needs
        only once."""
        if self._vector_store is None:
            self._vector_store = WeaviateVectorStore(weaviate_client=self.client, index_name=self.name)
        return self._vector_store

    def add(self, nodes: list[TextNode]) -> None:
        """Upsert nodes (ids are deterministic) and fail loudly on any rejected object.

        The objects are LlamaIndex's (`get_data_object`, as its `async_add` writes them), sent with
        `insert_many` rather than LlamaIndex's sync `add`: that one goes through the client's background
        batch, which, when Weaviate dies mid-write, retries for about 17 minutes (WEAVIATE_BATCH_MAX_RETRIES)
        before giving up; `insert_many` gives up after a few seconds (tests/hardening/test_faults.py)."""
        objects = [get_data_object(node, text_key=DEFAULT_TEXT_KEY) for node in nodes]
        for start in range(0, len(objects), WRITE_SLICE):
            with translate_errors("writing chunks"):
                result = self.collection.data.insert_many(objects[start:start + WRITE_SLICE])
            if result.errors:
                first = next(iter(result.errors.values()))
                raise StoreUnavailable(f"Weaviate rejected {len(result.errors)} of {len(nodes)} chunks: "
                                       f"{first.message}")

    def delete_doc(self, doc_id: str, keep_version: str | None = None) -> int:
        """Delete a document's chunks, except those of version `keep_version` if given."""
        where = wvc.query.Filter.by_property("file").equal(doc_id)
        if keep_version:
            where = where & wvc.query.Filter.by_property("doc_version").not_equal(keep_version)
        with translate_errors(f"deleting chunks of {doc_id}"):
            result = self.collection.data.delete_many(where=where)
        if result.failed:
            raise StoreUnavailable(f"Weaviate failed to delete {result.failed} chunks of {doc_id}")
        return result.successful

    def vectors_by_text_sha(self, doc_id: str) -> dict[str, list[float]]:
        """Embeddings already stored for a document, keyed by the hash of the text that was embedded."""
        out: dict[str, list[float]] = {}
        with translate_errors(f"reading chunks of {doc_id}"):
            res = self.collection.query.fetch_objects(
                filters=wvc.query.Filter.by_property("file").equal(doc_id), include_vector=True,
                return_properties=["text_sha"], limit=10_000)  # the server's QUERY_MAXIMUM_RESULTS
        for obj in res.objects:
            vec = obj.vector.get("default") if isinstance(obj.vector, dict) else obj.vector
            if vec is not None:
                out[obj.properties["text_sha"]] = list(vec)
        return out

    def _fail_fast(self) -> None:
        """One HTTP request, refused at once when the server is down. The client's gRPC reads retry for about
        a minute before failing, and the bot runs them in asyncio's small thread pool: a few students'
        /fuentes during an outage would hold every worker and stall the whole bot. The readiness probe is the
        node's own (a schema request would wait for a cluster's Raft leader)."""
        if not self.client.is_ready():
            raise StoreUnavailable(f"Weaviate is not answering (collection {self.name})")

    def chunk_counts(self) -> dict[str, int]:
        """Number of chunks per file."""
        with translate_errors("counting chunks"):
            self._fail_fast()
            res = self.collection.aggregate.over_all(group_by=wvc.aggregate.GroupByAggregate(prop="file",
                                                                                             limit=100_000))
        return {g.grouped_by.value: g.total_count for g in res.groups}

    def count(self) -> int:
        with translate_errors("counting chunks"):
            self._fail_fast()
            return self.collection.aggregate.over_all(total_count=True).total_count or 0

    def checksum(self) -> str:
        """A digest of every chunk's id and text hash: equal iff the index content is equal."""
        with translate_errors("reading chunks"):
            rows = sorted(f"{o.uuid}:{o.properties.get('text_sha')}"
                          for o in self.collection.iterator(return_properties=["text_sha"]))
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()

    def files(self) -> set[str]:
        return set(self.chunk_counts())

    def drop(self) -> None:
        with translate_errors(f"deleting collection {self.name}"):
            self.client.collections.delete(self.name)
