"""coursebot's RAG core: ingest course files, store them in Weaviate, retrieve, answer with citations."""

import warnings

# authlib (imported by the weaviate client) warns about its own httpx integration on import; not ours to fix.
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
