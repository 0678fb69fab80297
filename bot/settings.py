"""Bot settings: the knowledge settings plus the Telegram side, built once at the edge (`coursebot serve`)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from knowledge.settings import Settings, load_settings

TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
TELEGRAM_FILE_BASE_URL = "https://api.telegram.org/file/bot"
BOT_API_DOWNLOAD_LIMIT_MB = 20.0  # getFile refuses larger files on Telegram's own servers


class BotSettings(Settings):
    """`Settings` + token, admins, Bot API endpoints and per-student limits."""

    telegram_bot_token: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "COURSEBOT_TELEGRAM_BOT_TOKEN"),
        description="the token from @BotFather (never logged)")
    admin_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, validation_alias=AliasChoices("ADMIN_IDS", "COURSEBOT_ADMIN_IDS"),
        description="Telegram user ids of the course staff, comma-separated")
    telegram_api_base_url: str = Field(
        TELEGRAM_API_BASE_URL,
        validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "COURSEBOT_TELEGRAM_API_BASE_URL"),
        description="Bot API endpoint; the token is appended (a local Bot API server or a test emulator)")
    telegram_file_base_url: str = Field(
        TELEGRAM_FILE_BASE_URL,
        validation_alias=AliasChoices("TELEGRAM_FILE_BASE_URL", "COURSEBOT_TELEGRAM_FILE_BASE_URL"),
        description="file download endpoint; the token is appended")
    webhook_url: str = Field("", validation_alias=AliasChoices("TELEGRAM_WEBHOOK_URL", "COURSEBOT_WEBHOOK_URL"),
                             description="public HTTPS URL Telegram posts updates to (`serve --webhook`); its path is "
                                         "the path served")
    webhook_listen: str = Field("127.0.0.1", description="address the webhook server listens on (behind a proxy)")
    webhook_port: int = Field(8443, ge=1, le=65535, description="port the webhook server listens on")
    webhook_secret: SecretStr = Field(
        SecretStr(""), validation_alias=AliasChoices("TELEGRAM_WEBHOOK_SECRET", "COURSEBOT_WEBHOOK_SECRET"),
        description="secret Telegram sends in X-Telegram-Bot-Api-Secret-Token; requests without it are refused "
                    "(1-256 of A-Z a-z 0-9 _ -; never logged)")
    rate_per_minute: int = Field(5, ge=1, description="questions a student may ask per minute")
    rate_per_day: int = Field(100, ge=1, description="questions a student may ask per day")
    max_upload_mb: float = Field(20.0, gt=0, description="largest document an admin may upload")
    edit_interval: float = Field(1.0, ge=0.0, description="seconds between edits of a streamed answer")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @property
    def custom_api(self) -> bool:
        return self.telegram_api_base_url.rstrip("/") != TELEGRAM_API_BASE_URL

    @property
    def max_upload_bytes(self) -> int:
        """Our limit, the ingestion limit and — on Telegram's servers — the Bot API's 20 MB download limit."""
        limit = min(self.max_upload_mb, self.max_file_mb)
        if not self.custom_api:
            limit = min(limit, BOT_API_DOWNLOAD_LIMIT_MB)
        return int(limit * 1024 * 1024)


def load_bot_settings(**overrides) -> BotSettings:
    """Build the settings once, as knowledge.settings.load_settings does (including the activated model)."""
    return load_settings(BotSettings, **overrides)
