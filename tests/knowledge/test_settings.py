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
