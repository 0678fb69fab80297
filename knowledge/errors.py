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


class QuestionTooLong(KnowledgeError):
    """A question too long to answer within the model's context; the message says how long it may be."""

    def __init__(self, tokens: int, limit: int, chars: int):
        self.tokens, self.limit = tokens, limit
        # the limit in characters at this question's own characters per token: what a student can act on
        self.max_chars = max(1, limit * chars // max(tokens, 1))
        super().__init__(f"la pregunta tiene {chars} caracteres ({tokens} tokens del modelo) y caben unos "
                         f"{self.max_chars} ({limit} tokens).")
