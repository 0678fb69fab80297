"""`coursebot adapter use`: the active-model file settings read, guarded by the gate and the GGUF's hash."""

import json

import pytest

from adapters.active import ACTIVE_MODEL, activate, deactivate, locate, read_active, serving_mismatches
from adapters.artifacts import sha256_file
from adapters.errors import AdapterError, ArtifactMissing
from knowledge.settings import Settings, load_settings

PROMPT = {"course": "Curso de ejemplo", "k": 4, "max_sources": 3, "max_chars_per_source": 600,
          "max_total_chars": 1500}


def exported(tmp_path, passed: bool | None, improves: bool | None = None):
    gguf_dir = tmp_path / "run" / "gguf"
    gguf_dir.mkdir(parents=True)
    gguf = gguf_dir / "model-Q4_K_M.gguf"
    gguf.write_bytes(b"GGUF fake")
    gate = None if passed is None else {"passed": passed, "reasons": [] if passed else ["heldout: drop"],
                                        "improves_on_base": improves}
    manifest = {"gguf": {"path": str(gguf), "sha256": sha256_file(gguf)}, "course": "Curso de ejemplo",
                "prompt": PROMPT, "gate": gate}
    (gguf_dir / "manifest.json").write_text(json.dumps(manifest))
    return gguf


def test_use_writes_the_active_model_file_and_base_removes_it(tmp_path):
    gguf = exported(tmp_path, passed=True)
    data = tmp_path / "data"
    active = activate(data, tmp_path / "run")
    assert active["generator_model"] == str(gguf)
    on_disk = json.loads((data / ACTIVE_MODEL).read_text())
    assert on_disk == read_active(data) and on_disk["manifest"].endswith("gguf/manifest.json")
    assert deactivate(data) and read_active(data) is None and not deactivate(data)


def test_a_model_that_failed_the_gate_needs_force(tmp_path):
    gguf = exported(tmp_path, passed=False)
    with pytest.raises(AdapterError, match="did not pass the gate"):
        activate(tmp_path / "data", gguf)
    assert activate(tmp_path / "data", gguf, force=True)["sha256"] == sha256_file(gguf)


def test_the_gates_verdict_on_the_gain_over_the_base_travels_with_the_active_model(tmp_path):
    exported(tmp_path, passed=True, improves=False)
    assert activate(tmp_path / "data", tmp_path / "run")["improves_on_base"] is False
    assert read_active(tmp_path / "data")["improves_on_base"] is False


def test_a_changed_file_is_refused(tmp_path):
    gguf = exported(tmp_path, passed=True)
    gguf.write_bytes(b"GGUF other")
    with pytest.raises(AdapterError, match="changed since export"):
        activate(tmp_path / "data", gguf)


def test_locate_accepts_the_gguf_its_folder_or_the_run(tmp_path):
    gguf = exported(tmp_path, passed=True)
    manifest = gguf.parent / "manifest.json"
    assert locate(gguf) == locate(gguf.parent) == locate(tmp_path / "run") == locate(manifest) == manifest
    with pytest.raises(ArtifactMissing):
        locate(tmp_path)


def test_serving_settings_that_differ_from_training_are_named():
    settings = Settings(course_name="Curso de ejemplo", answer_k=4, answer_max_sources=3, answer_chars_per_source=600,
                        answer_total_chars=1200, _env_file=None)
    problems = serving_mismatches({"prompt": PROMPT}, settings)
    assert problems == ["answer_total_chars is 1200, trained with 1500"]


def exported_with_lora(tmp_path):
    gguf = exported(tmp_path, passed=True)
    manifest_path = gguf.parent / "manifest.json"
    lora, base = gguf.parent / "adapter-F16.gguf", tmp_path / "base-Q4_K_M.gguf"
    lora.write_bytes(b"GGUF lora")
    base.write_bytes(b"GGUF base")
    manifest = json.loads(manifest_path.read_text())
    manifest |= {"adapter": {"gguf": {"path": str(lora), "sha256": sha256_file(lora)}},
                 "base": {"gguf": True, "location": str(base), "sha256": sha256_file(base)}}
    manifest_path.write_text(json.dumps(manifest))
    return base, lora


def test_a_lora_scale_is_recorded_with_the_runtime_lora_and_read_by_the_settings(tmp_path):
    base, lora = exported_with_lora(tmp_path)
    data = tmp_path / "data"
    active = activate(data, tmp_path / "run", runtime_lora=True, lora_scale=0.6)
    assert (active["generator_model"], active["generator_lora"]) == (str(base), str(lora))
    settings = load_settings(data_dir=data, _env_file=None)
    assert (settings.generator_lora, settings.generator_lora_scale) == (str(lora), 0.6)
    assert load_settings(data_dir=data, _env_file=None, generator_lora_scale=1.0).generator_lora_scale == 1.0
    activate(data, tmp_path / "run", runtime_lora=True)  # no scale given: the configured one serves
    assert "generator_lora_scale" not in read_active(data)
    assert load_settings(data_dir=data, _env_file=None, generator_lora_scale=0.8).generator_lora_scale == 0.8


def test_a_lora_scale_without_the_runtime_lora_or_out_of_range_is_refused(tmp_path):
    exported_with_lora(tmp_path)
    data = tmp_path / "data"
    with pytest.raises(AdapterError, match="needs the runtime LoRA"):
        activate(data, tmp_path / "run", runtime_lora=False, lora_scale=0.6)
    with pytest.raises(AdapterError, match="outside 0..2"):
        activate(data, tmp_path / "run", runtime_lora=True, lora_scale=3)
    assert read_active(data) is None  # nothing written
