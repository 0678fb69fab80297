"""Which generator serves: `coursebot adapter use PATH` writes DATA_DIR/active_model.json, settings read it.

The file (written atomically; absent = the configured COURSEBOT_GENERATOR_MODEL serves):
    {
      "generator_model": "/abs/path/model-Q4_K_M.gguf",   # what Settings.generator_model should become
      "manifest": "/abs/path/manifest.json",              # provenance, evaluation and gate of that GGUF
      "sha256": "…",                                      # of the GGUF when it was activated
      "generator_lora": "/abs/path/adapter-F16.gguf",      # only with --runtime-lora (generator_model = base)
      "generator_lora_scale": 0.6,                         # only with --lora-scale (absent = as configured)
      "course": "…", "prompt": {…},                       # what the model was trained for (must match serving)
      "activated_at": "2025-01-01T00:00:00+00:00"
    }
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from knowledge.settings import LORA_SCALE_MAX

from .artifacts import MANIFEST, RunPaths, read_json, sha256_file, write_json
from .errors import AdapterError, ArtifactMissing

ACTIVE_MODEL = "active_model.json"


def locate(target: Path) -> Path:
    """The manifest for a GGUF file, a manifest, a gguf/ folder or a run folder."""
    target = target.expanduser().resolve()
    for candidate in (target.parent / MANIFEST if target.suffix == ".gguf" else None,
                      target if target.name == MANIFEST else None,
                      target / MANIFEST, RunPaths(target).gguf / MANIFEST):
        if candidate is not None and candidate.is_file():
            return candidate
    raise ArtifactMissing(f"no {MANIFEST} for {target}: export the model first (coursebot adapter export)")


def activate(data_dir: Path, target: Path, force: bool = False, runtime_lora: bool | None = None,
             lora_scale: float | None = None) -> dict:
    """Point the generator at an exported GGUF whose gate passed (or any, with force); with `runtime_lora`, at
    the base GGUF plus the exported adapter GGUF instead (None: the form the gate checked), applied at
    `lora_scale` (0 = the base, 1 = as exported: the strength the gate measured) when given."""
    if lora_scale is not None and not 0 <= lora_scale <= LORA_SCALE_MAX:
        raise AdapterError(f"lora scale {lora_scale} is outside 0..{LORA_SCALE_MAX:g} "
                           "(0 = the base model, 1 = as exported)")
    manifest_path = locate(target)
    manifest = read_json(manifest_path, "the export's manifest")
    gguf = Path(manifest["gguf"]["path"])
    if not gguf.is_file():
        raise ArtifactMissing(f"{gguf} is gone")
    gate = manifest.get("gate") or {}
    if runtime_lora is None:
        runtime_lora = gate.get("served") == "lora"
    if not gate.get("passed") and not force:
        why = "; ".join(gate.get("reasons", [])) or "the gate has not run"
        raise AdapterError(f"{gguf.name} did not pass the gate ({why}); use --force to serve it anyway")
    sha = sha256_file(gguf)
    if sha != manifest["gguf"]["sha256"]:
        raise AdapterError(f"{gguf} changed since export (sha256 differs from the manifest)")
    active = {"generator_model": str(gguf), "manifest": str(manifest_path), "sha256": sha,
              "course": manifest["course"], "prompt": manifest["prompt"],
              "improves_on_base": gate.get("improves_on_base"),  # the gate's measure of the tuning's gain
              "activated_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if runtime_lora:
        lora, base = manifest["adapter"].get("gguf"), manifest["base"]
        if not lora or not base["gguf"]:
            raise AdapterError("this export has no runtime-LoRA file (export with runtime_lora=true from a GGUF base)")
        for path, sha in ((Path(lora["path"]), lora["sha256"]), (Path(base["location"]), base.get("sha256"))):
            if not path.is_file():
                raise ArtifactMissing(f"{path} is gone")
            if sha and sha256_file(path) != sha:
                raise AdapterError(f"{path} changed since export (sha256 differs from the manifest)")
        active |= {"generator_model": base["location"], "generator_lora": lora["path"],
                   "sha256": base.get("sha256"), "lora_sha256": lora["sha256"]}
        if lora_scale is not None:
            active["generator_lora_scale"] = lora_scale
    elif lora_scale is not None:
        raise AdapterError("a LoRA scale needs the runtime LoRA (--runtime-lora): the merged model has the "
                           "adapter baked in at full strength")
    write_json(data_dir / ACTIVE_MODEL, active)
    return active


def deactivate(data_dir: Path) -> bool:
    """Back to the configured generator; False when no tuned model was active."""
    path = data_dir / ACTIVE_MODEL
    if not path.is_file():
        return False
    path.unlink()
    return True


def read_active(data_dir: Path) -> dict | None:
    path = data_dir / ACTIVE_MODEL
    return read_json(path, "") if path.is_file() else None


def serving_mismatches(active: dict, settings) -> list[str]:
    """Where the current settings would prompt the tuned model differently from its training."""
    prompt, out = active["prompt"], []
    expected = {"course_name": prompt["course"], "answer_k": prompt["k"], "answer_max_sources": prompt["max_sources"],
                "answer_chars_per_source": prompt["max_chars_per_source"],
                "answer_total_chars": prompt["max_total_chars"]}
    for key, value in expected.items():
        if getattr(settings, key) != value:
            out.append(f"{key} is {getattr(settings, key)!r}, trained with {value!r}")
    return out
