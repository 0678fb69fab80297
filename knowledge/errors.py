"""Error types raised by the knowledge core; callers (CLI, bot) turn them into messages."""


class KnowledgeError(Exception):
    """Base class: every error here carries a message fit to show a user."""


class SourceUnreadable(KnowledgeError):
    """A file could not be parsed (corrupt, encrypted, empty, no text)."""


class UnsupportedFileType(KnowledgeError):
    """The file's type (by content, not only by name) is not one we ingest."""


class FileTooLarge(KnowledgeError):
    """The file exceeds the configured size limit."""


class UnsafePath(KnowledgeError):
    """A path or file name tries to escape the materials folder."""


class StoreUnavailable(KnowledgeError):
    """Weaviate could not be reached or refused an operation."""


class EmbedderMismatch(KnowledgeError):
    """The collection was built with another embedding model than the one configured."""


class GeneratorUnavailable(KnowledgeError):
    """The answer model could not be loaded or failed while generating."""


class SourceNotFound(KnowledgeError):
    """A named source is not in the index."""


class RefreshBusy(KnowledgeError):
    """Another refresh holds the lock."""
