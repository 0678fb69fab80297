"""coursebot's RAG core: ingest course files, store them in Weaviate, retrieve, answer with citations."""

import warnings

# authlib (imported by the weaviate client) warns about its own httpx integration on import, and its module
# `authlib.deprecate` installs an "always" filter for that warning when imported: import it first, then
# put our "ignore" in front of it.
try:
    import authlib.deprecate  # noqa: F401
except ImportError:  # pragma: no cover - authlib comes with weaviate-client
    pass
warnings.filterwarnings("ignore", message="The httpx module is deprecated")
