"""coursebot's RAG core: ingest course files, store them in Weaviate, retrieve, answer with citations."""
