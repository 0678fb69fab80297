"""Stage configs and the run folder: one dataclass per stage, each field saying what it means.

Options arrive as `key=value` strings (CLI `--set`, script arguments) and are checked against every stage's
fields before any long work: an unknown key or a value of the wrong type stops the run at once. Each stage
writes its resolved config beside its output, so an artifact always says how it was made.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from knowledge.settings import LORA_SCALE_MAX

from .artifacts import QUANTIZATIONS
from .errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval" / "dev.jsonl"
SHARED_CORPUS = REPO.parent / "shared" / "corpus" / "ia-aplicada"


@dataclass
class DatasetConfig:
    course_dir: str = ""  # course folder, indexed into its own collection; "" = the course already indexed
    course_name: str = ""  # name in the system prompt; "" = COURSEBOT_COURSE_NAME (must match serving)
    questions_per_chunk: int = 3  # most questions generated from one chunk
    decline_share: float = 0.25  # share of generated questions shown without their gold chunk → refusal
    # a refusal's sources share less than this with the answer's content words (lower: only clearly unrelated
    # chunks, so a model does not learn to decline sources that hold the answer in part)
    decline_overlap: float = 0.6
    offtopic: int = 24  # questions the course never covers (templates), answered with the refusal
    # questions that look answerable from the sources retrieved for them and are not — a field term the course
    # never names, who made or when a term it defines — answered with the refusal (questions.FIELD_TERMS)
    near_misses: int = 48
    # the field's terms those near misses ask about: a text file, one per line, `term` or `term | stem` (# comments);
    # "" = the built-in machine-learning list. A course in another field names its own neighbourhood here
    field_terms: str = ""
    # questions about how the course runs that its materials never answer — office hours, make-up exams, late work
    # (questions.COURSE_TOPICS, only topics the course never names) — answered with the refusal: their sources are
    # the course's own syllabus and exam chunks, so the model learns not to invent a rule from them
    course_misses: int = 12
    # beside them, questions in the same forms about terms the course does define or name, answered from the chunk
    # that does: the model learns to check the sources, not to refuse a form of question or a famous term
    near_miss_counterparts: int = 48
    heldout_share: float = 0.15  # share of chunks kept out of training (validation loss and the gate)
    informal_share: float = 0.3  # share of questions rewritten as students type them (no ¿, accents, caps)
    english_share: float = 0.08  # share of questions asked in English (answered from the Spanish sources)
    min_chunk_chars: int = 120  # shorter chunks give no questions
    admin_pairs: str = ""  # comma-separated JSONL files of hand-written pairs (the eval format)
    forbid_eval: str = str(SHARED_EVAL)  # comma-separated QA files whose questions must never be trained on
    max_examples: int = 0  # cap on training examples (0 = all)
    seed: int = 0


@dataclass
class WriteConfig:
    write_model: str = ""  # GGUF (name in MODELS_DIR or path) that writes the answers (adapters/writer.py)
    write_limit: int = 0  # most training answers written (0 = all); declines before the last one pass through
    write_minutes: float = 0.0  # time budget for the training answers (0 = no limit)
    write_val: int = 16  # validation answers written (the loss curve then measures the written style)
    write_min_keep: float = 0.5  # share of the template answer's content words a written answer must hold
    write_trim: bool = True  # drop sentences no source supports (else the whole answer is rejected)
    write_keep_templates: bool = False  # keep the template answer when the written one is rejected
    write_max_tokens: int = 200  # a written answer this long was cut off: rejected
    write_temperature: float = 0.1  # the bot's own sampling temperature


@dataclass
class TrainConfig:
    base: str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"  # GGUF (name in MODELS_DIR or path) or an HF id/dir
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "auto"  # comma-separated module names; auto = per-architecture default (base.py)
    dtype: str = "auto"  # float32 | bfloat16 | auto (bfloat16 when the CPU has AVX512-BF16/AMX)
    batch_size: int = 4  # examples per micro-batch
    grad_accum: int = 2  # micro-batches per optimizer step
    epochs: float = 2.0  # passes over the training examples (ignored when max_steps > 0)
    max_steps: int = 0  # optimizer steps (0 = from epochs)
    max_minutes: float = 0.0  # training time budget: the step count shrinks to what fits (0 = no limit)
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    # loss weight of the source numbers in the answers' [n] markers (validation loss stays unweighted)
    citation_weight: float = 1.0
    weight_decay: float = 0.0
    max_seq_len: int = 1024  # tokens; longer examples are dropped (cutting would lose sources or the answer)
    eval_interval: int = 25  # steps between validation losses
    val_max_examples: int = 48  # validation examples scored each time
    checkpoint_interval: int = 25  # steps between resumable checkpoints
    keep_checkpoints: int = 2
    gradient_checkpointing: bool = False  # recompute activations in backward: much less memory, ~30% slower
    threads: int = 0  # torch threads (0 = all cores)
    cache_base: bool = True  # keep a float32 transformers copy of a GGUF base in the cache (fast reloads)
    seed: int = 0


@dataclass
class MergeConfig:
    # strength of the adapter in every tuned form — merged, re-quantized and runtime LoRA alike: its delta times
    # this (1 = as trained, below 1 = blended towards the base). Baked into the merged weights and into the adapter
    # GGUF's alpha, so the gate measures the form that serves. Measured (README): the 1.5B cited best below 1.
    lora_scale: float = 1.0


@dataclass
class ExportConfig:
    quantization: str = "Q4_K_M"  # Q4_K_M | Q5_K_M | Q8_0 | F16
    keep_f16: bool = False  # keep the intermediate f16 GGUF next to the quantized one
    runtime_lora: bool = True  # also write the adapter as a GGUF LoRA, applied by llama.cpp to the base at load


@dataclass
class GateConfig:
    max_drop: float = 0.02  # largest drop of the served form vs merged on citation precision or abstention (2 pts)
    # the tuned form the gate checks and `coursebot adapter use` serves: quantized (the merged model re-quantized),
    # lora (the base GGUF + the adapter applied at load), auto = lora when the base is a GGUF and the adapter was
    # converted. Measured (README): re-quantizing a merged model whose base was already 4-bit loses much of what
    # the adapter learned; runtime LoRA serves exactly the weights training saw.
    serve: str = "auto"
    limit: int = 0  # only the first N items of each evaluation set (0 = all)
    eval_sets: str = "auto"  # "QA.jsonl:CORPUS_DIR,..."; auto = ../shared/eval/dev.jsonl on its corpus if present
    hf_dtype: str = "auto"  # dtype of the merged model under transformers: float32 | bfloat16 | auto
    max_answer_tokens: int = 0  # 0 = COURSEBOT_MAX_ANSWER_TOKENS
    # the primary criterion: the served form's score (correct − wrong, knowledge/evaluation/outcomes.py) beats the
    # base's by more than min_gain on every evaluation set, and no set's score is lower (−2 turns it off: tests)
    min_gain: float = 0.0
    min_heldout: int = 80  # fewer held-out items than this: too few to tell a gain from noise (0 = no minimum)
    min_public: int = 60  # the same for a public set (a name starting with "squad": scripts/squad_to_eval.py)


STAGES = {"dataset": DatasetConfig, "write": WriteConfig, "train": TrainConfig, "merge": MergeConfig,
          "export": ExportConfig, "gate": GateConfig}


@dataclass
class Configs:
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    write: WriteConfig = field(default_factory=WriteConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    gate: GateConfig = field(default_factory=GateConfig)


def _coerce(key: str, raw: str, kind: type) -> Any:
    try:
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes")
        return kind(raw)
    except ValueError as e:
        raise ConfigError(f"{key}={raw}: expected {kind.__name__}") from e


def parse_overrides(pairs: list[str], configs: Configs | None = None) -> Configs:
    """Apply `key=value` pairs (a leading `--` is allowed) to the stage configs; unknown keys are errors."""
    configs = configs or Configs()
    owners = {f.name: stage for stage in STAGES for f in dataclasses.fields(getattr(configs, stage))}
    for pair in pairs:
        key, sep, raw = pair.removeprefix("--").partition("=")
        key = key.replace("-", "_")
        if not sep:
            raise ConfigError(f"{pair}: expected key=value")
        if key not in owners:
            close = difflib.get_close_matches(key, owners, n=1)
            raise ConfigError(f"unknown option {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        target = getattr(configs, owners[key])
        setattr(target, key, _coerce(key, raw, get_type_hints(type(target))[key]))
    check(configs)
    return configs


def check(configs: Configs) -> None:
    """Values that would only fail hours later fail now."""
    d, t, e, g = configs.dataset, configs.train, configs.export, configs.gate
    if (not 0 <= d.decline_share < 1 or not 0 < d.heldout_share < 1 or not 0 <= d.informal_share <= 1
            or not 0 <= d.english_share <= 1 or not 0 < d.decline_overlap <= 1):
        raise ConfigError("decline_share must be in [0, 1), informal_share, english_share in [0, 1], "
                          "heldout_share in (0, 1), decline_overlap in (0, 1]")
    if d.field_terms and not Path(d.field_terms).is_file():
        raise ConfigError(f"field_terms={d.field_terms}: no such file (one term per line, `term | stem`)")
    w = configs.write
    if not 0 <= w.write_min_keep <= 1 or min(w.write_limit, w.write_val, w.write_minutes) < 0 or w.write_max_tokens < 1:
        raise ConfigError("write_min_keep must be in [0, 1], write_limit, write_val and write_minutes >= 0, "
                          "write_max_tokens >= 1")
    if min(t.lora_r, t.lora_alpha, t.batch_size, t.grad_accum, t.max_seq_len, t.eval_interval,
           t.checkpoint_interval, t.keep_checkpoints) < 1:
        raise ConfigError("lora_r, lora_alpha, batch_size, grad_accum, max_seq_len and intervals must be >= 1")
    if t.dtype not in ("auto", "float32", "bfloat16") or g.hf_dtype not in ("auto", "float32", "bfloat16"):
        raise ConfigError("dtype and hf_dtype must be auto, float32 or bfloat16")
    if t.max_steps <= 0 and t.epochs <= 0:
        raise ConfigError("set max_steps or epochs")
    if e.quantization.upper() not in QUANTIZATIONS:
        raise ConfigError(f"quantization must be one of {', '.join(QUANTIZATIONS)}")
    if not 0 < configs.merge.lora_scale <= LORA_SCALE_MAX:
        raise ConfigError(f"lora_scale must be in (0, {LORA_SCALE_MAX:g}] (1 = the adapter as trained)")
    if configs.gate.serve not in ("auto", "quantized", "lora"):
        raise ConfigError("serve must be auto, quantized or lora")
    e.quantization = e.quantization.upper()


def as_dict(config) -> dict:
    return dataclasses.asdict(config)
