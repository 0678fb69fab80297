"""Stage 3 — fold the adapter into the base (`merge_and_unload`) and save a plain transformers folder.

The adapter is folded in at `MergeConfig.lora_scale` of its trained strength; the export converts the adapter at
the same scale for the runtime LoRA, so every tuned form the gate measures is the same model.

Reads   ADAPTER/train_config.json, adapter_model.safetensors, adapter_config.json, chat_template.jinja
Writes  MERGED/model.safetensors (float16), config.json, tokenizer files, chat_template.jinja, merge_config.json
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from .artifacts import (
    ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
    MERGE_CONFIG,
    REPORT,
    TEMPLATE,
    TRAIN_CONFIG,
    read_json,
    sha256_file,
    sha256_text,
    write_json,
)
from .base_model import BaseModel, chat_template, dense_copy, forget_gguf_origin, load_model, load_tokenizer
from .config import MergeConfig
from .errors import AdapterError, ArtifactMissing

log = logging.getLogger(__name__)



def base_of(trained: dict) -> BaseModel:
    """The base the adapter was trained on, unchanged since (a GGUF is checked by hash)."""
    b = trained["base"]
    base = BaseModel(b["spec"], b["location"], b["gguf"])
    if base.gguf:
        path = Path(base.location)
        if not path.is_file():
            raise ArtifactMissing(f"the base model {path} the adapter was trained on is gone")
        if b.get("sha256") and sha256_file(path) != b["sha256"]:
            raise AdapterError(f"{path} changed since training (sha256 differs): retrain the adapter")
    return base


def scaled_adapter(adapter_dir: Path, scale: float, into: Path) -> Path:
    """The adapter at `scale` of its trained strength: the same weights with lora_alpha × scale in its config — peft
    and llama.cpp's LoRA converter both multiply the delta by alpha / r. `adapter_dir` itself at scale 1."""
    if scale == 1:
        return adapter_dir
    config = read_json(adapter_dir / ADAPTER_CONFIG, "the adapter's peft config")
    config["lora_alpha"] *= scale
    config["alpha_pattern"] = {name: alpha * scale for name, alpha in (config.get("alpha_pattern") or {}).items()}
    into.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(adapter_dir / ADAPTER_WEIGHTS, into / ADAPTER_WEIGHTS)
    write_json(into / ADAPTER_CONFIG, config)
    return into


def merge(adapter_dir: Path, out_dir: Path, cfg: MergeConfig | None = None) -> dict:
    """Base + adapter (at cfg.lora_scale) → one float16 model with the training's tokenizer and chat template."""
    import torch
    from peft import PeftModel

    cfg = cfg or MergeConfig()
    trained = read_json(adapter_dir / TRAIN_CONFIG, "run the train stage first")
    adapter_file = adapter_dir / ADAPTER_WEIGHTS
    if not adapter_file.is_file():
        raise ArtifactMissing(f"{adapter_file} not found: training did not finish")
    base = base_of(trained)
    weights = dense_copy(base) if trained["config"].get("cache_base") else base
    tokenizer = load_tokenizer(weights)
    template = chat_template(tokenizer, base.spec)
    if sha256_text(template) != trained["chat_template_sha256"]:
        raise AdapterError("the base's chat template is not the one used in training")

    model = load_model(weights, torch.float32)  # merge in float32: the LoRA delta is small next to the weights
    with tempfile.TemporaryDirectory() as tmp:
        merged = PeftModel.from_pretrained(model, scaled_adapter(adapter_dir, cfg.lora_scale, Path(tmp))
                                           ).merge_and_unload()
    forget_gguf_origin(merged)
    merged = merged.to(torch.float16)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / TEMPLATE).write_text(template, encoding="utf-8")  # what the GGUF converter reads

    report = read_json(adapter_dir / REPORT, "run the train stage first")
    resolved = {"adapter": str(adapter_dir.resolve()), "adapter_sha256": sha256_file(adapter_file),
                "base": trained["base"], "model_type": trained["model_type"], "dtype": "float16",
                "lora": {k: trained["config"][k] for k in ("lora_r", "lora_alpha", "lora_dropout")}
                | {"target_modules": trained["target_modules"], "scale": cfg.lora_scale},
                "dataset": trained["dataset"], "dataset_sha256": trained["dataset_sha256"],
                "prompt": trained["prompt"], "chat_template_sha256": trained["chat_template_sha256"],
                "training": {k: report.get(k) for k in ("examples", "steps", "seconds_per_step", "first_val_loss",
                                                         "final_val_loss", "final_train_loss")}}
    write_json(out_dir / MERGE_CONFIG, resolved)
    del model, merged
    return resolved
