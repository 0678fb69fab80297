import json

import pytest

from knowledge.settings import load_settings


def test_activated_model_overrides_the_configured_one(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEBOT_GENERATOR_MODEL", "configured.gguf")
    assert load_settings(data_dir=tmp_path).generator_model == "configured.gguf"
    (tmp_path / "active_model.json").write_text(json.dumps({"generator_model": "/models/tuned-Q4_K_M.gguf"}))
    assert load_settings(data_dir=tmp_path).generator_model == "/models/tuned-Q4_K_M.gguf"
    assert load_settings(data_dir=tmp_path, generator_model="x.gguf").generator_model == "x.gguf"
    (tmp_path / "active_model.json").write_text("{broken")
    with pytest.raises(ValueError, match="active_model.json"):
        load_settings(data_dir=tmp_path)


def test_the_answer_cache_is_on_by_default_and_reaches_the_answerer(tmp_path, monkeypatch, kb):
    from knowledge.answer.answerer import Answerer
    from knowledge.answer.generation import LlamaGenerator
    from tests.conftest import TINY_MODEL

    monkeypatch.delenv("COURSEBOT_ANSWER_CACHE_MINUTES")  # the test session turns it off (tests/conftest.py)
    settings = load_settings(data_dir=tmp_path, _env_file=None)
    assert settings.answer_cache_minutes == 10 and settings.generator_draft_tokens == 0
    kb.settings.answer_cache_minutes = settings.answer_cache_minutes
    assert kb.answerer.cache is not None and kb.answerer.cache.seconds == 600  # what the bot and the CLI use
    assert Answerer(None, LlamaGenerator(TINY_MODEL)).cache is None  # evaluation and the gate build their own
