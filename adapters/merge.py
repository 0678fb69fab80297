"""Stage 3 — fold the adapter into the base (`merge_and_unload`) and save a plain transformers folder.

Reads   ADAPTER/train_config.json, adapter_model.safetensors, adapter_config.json, chat_template.jinja
Writes  MERGED/model.safetensors (float16), config.json, tokenizer files, chat_template.jinja, merge_config.json
"""

from __future__ import annotations

import logging
from pathlib import Path

from .base import BaseModel, chat_template, dense_copy, forget_gguf_origin, load_model, load_tokenizer
from .config import read_json, sha256_file, sha256_text, write_json
from .errors import AdapterError, ArtifactMissing
from .train import REPORT, TEMPLATE, TRAIN_CONFIG

log = logging.getLogger(__name__)

MERGE_CONFIG = "merge_config.json"


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


def merge(adapter_dir: Path, out_dir: Path) -> dict:
    """Base + adapter → one float16 model with the training's tokenizer and chat template."""
    import torch
    from peft import PeftModel

    trained = read_json(adapter_dir / TRAIN_CONFIG, "run the train stage first")
    adapter_file = adapter_dir / "adapter_model.safetensors"
    if not adapter_file.is_file():
        raise ArtifactMissing(f"{adapter_file} not found: training did not finish")
    base = base_of(trained)
    weights = dense_copy(base) if trained["config"].get("cache_base") else base
    tokenizer = load_tokenizer(weights)
    template = chat_template(tokenizer, base.spec)
    if sha256_text(template) != trained["chat_template_sha256"]:
        raise AdapterError("the base's chat template is not the one used in training")

    model = load_model(weights, torch.float32)  # merge in float32: the LoRA delta is small next to the weights
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
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
                | {"target_modules": trained["target_modules"]},
                "dataset": trained["dataset"], "dataset_sha256": trained["dataset_sha256"],
                "prompt": trained["prompt"], "chat_template_sha256": trained["chat_template_sha256"],
                "training": {k: report.get(k) for k in ("examples", "steps", "seconds_per_step", "first_val_loss",
                                                         "final_val_loss", "final_train_loss")}}
    write_json(out_dir / MERGE_CONFIG, resolved)
    del model, merged
    return resolved
