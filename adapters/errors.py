"""Errors of the LoRA pipeline; subclasses of `KnowledgeError`, so the CLI's one boundary prints them."""

from knowledge.errors import KnowledgeError


class AdapterError(KnowledgeError):
    """A stage of the LoRA pipeline cannot run; the message says what to fix."""


class ConfigError(AdapterError):
    """An unknown option or a value of the wrong type (rejected before any long work)."""


class ArtifactMissing(AdapterError):
    """A stage's input (the previous stage's output) is missing or incomplete."""


class EvalLeak(AdapterError):
    """An evaluation question would enter the training data."""


class ExportFailed(AdapterError):
    """The GGUF converter or the quantizer failed."""
