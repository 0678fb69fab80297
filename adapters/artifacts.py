"""The run folder and the artifacts that are the contracts between the pipeline's stages: every file name, where
it lives, and the JSON helpers that read and write them. Each stage imports its inputs' names from here, never from
the stage that writes them, so the stages form a line, not a circle:

    dataset/  TRAIN, VAL, HELDOUT, DATASET_CONFIG                              adapters/dataset.py
    written/  the same four, and ANSWERS                                        adapters/writer.py
    adapter/  ADAPTER_WEIGHTS, ADAPTER_CONFIG, TRAIN_CONFIG, REPORT, LOSS_PNG, TEMPLATE   adapters/train.py
    merged/   safetensors, tokenizer, TEMPLATE, MERGE_CONFIG                    adapters/merge.py
    gguf/     model-QUANT.gguf, adapter-F16.gguf, MANIFEST, EXPORT_CONFIG       adapters/export.py
              GATE, PARTIAL, DETAILS/                                           adapters/gate.py
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from knowledge.ingest.filetypes import sha256_file  # noqa: F401  (the hash of every artifact; torch-free)

from .errors import ArtifactMissing

# dataset/ (and written/)
TRAIN, VAL, HELDOUT, DATASET_CONFIG = "train.jsonl", "val.jsonl", "heldout.jsonl", "dataset_config.json"
ANSWERS = "answers.jsonl"  # written/: every raw answer the writer gave, as it gave it
# adapter/
TRAIN_CONFIG, REPORT, LOSS_PNG, TEMPLATE = "train_config.json", "report.json", "loss.png", "chat_template.jinja"
ADAPTER_WEIGHTS, ADAPTER_CONFIG = "adapter_model.safetensors", "adapter_config.json"  # peft's names
# merged/
MERGE_CONFIG = "merge_config.json"
# gguf/
MANIFEST, EXPORT_CONFIG = "manifest.json", "export_config.json"
QUANTIZATIONS = ("Q4_K_M", "Q5_K_M", "Q8_0", "F16")
GATE = "gate.json"
PARTIAL = "gate.partial.json"  # the (system, set) evaluations done so far, for a resume
DETAILS = "gate-details"  # SET.jsonl per evaluation set: every answer of every system (`coursebot eval --details`)


@dataclass(frozen=True)
class RunPaths:
    """One run folder: a subfolder per stage, each the next stage's input."""

    root: Path

    @property
    def dataset(self) -> Path:
        return self.root / "dataset"

    @property
    def written(self) -> Path:
        return self.root / "written"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def merged(self) -> Path:
        return self.root / "merged"

    @property
    def gguf(self) -> Path:
        return self.root / "gguf"


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a file
    return path


def read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ArtifactMissing(f"{path} not found: {what}")
    return json.loads(path.read_text(encoding="utf-8"))


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
