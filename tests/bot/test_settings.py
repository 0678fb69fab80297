"""bot/settings.py: the Telegram settings read from the environment."""

from __future__ import annotations

import pytest

from bot.settings import BotSettings


@pytest.fixture
def env(monkeypatch):
    for name in ("TELEGRAM_BOT_TOKEN", "ADMIN_IDS", "TELEGRAM_API_BASE_URL", "TELEGRAM_FILE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_environment_names_and_defaults(env):
    env.setenv("TELEGRAM_BOT_TOKEN", "42:SECRET")
    env.setenv("ADMIN_IDS", "11, 22,33")
    settings = BotSettings(_env_file=None)
    assert settings.telegram_bot_token.get_secret_value() == "42:SECRET"
    assert "42:SECRET" not in repr(settings) and "42:SECRET" not in str(settings.model_dump())
    assert settings.admin_ids == [11, 22, 33]
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_file_base_url == "https://api.telegram.org/file/bot"
    assert (settings.rate_per_minute, settings.rate_per_day, settings.edit_interval) == (5, 100, 1.0)


def test_upload_limit_is_the_bot_api_download_limit_unless_a_custom_server_is_used(env):
    assert BotSettings(max_upload_mb=50, max_file_mb=100, _env_file=None).max_upload_bytes == 20 * 1024 * 1024
    assert BotSettings(max_upload_mb=5, _env_file=None).max_upload_bytes == 5 * 1024 * 1024
    env.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    local = BotSettings(max_upload_mb=50, max_file_mb=100, _env_file=None)
    assert local.custom_api and local.max_upload_bytes == 50 * 1024 * 1024
    assert BotSettings(max_upload_mb=50, max_file_mb=30, _env_file=None).max_upload_bytes == 30 * 1024 * 1024


def test_admin_ids_must_be_numbers(env):
    env.setenv("ADMIN_IDS", "11,bob")
    with pytest.raises(ValueError):
        BotSettings(_env_file=None)
