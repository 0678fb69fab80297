"""Stage 2 — LoRA fine-tuning on CPU, loss on the assistant's tokens only.

Each example is rendered with the base's own chat template (the one llama.cpp will apply at serving) and
tokenized as prompt + answer; only the answer's tokens (and the end-of-turn token) carry loss. Batches are
left-padded so every answer ends at the last position, which lets the model compute logits for the answer
span only (`logits_to_keep`): with a 150k vocabulary that is most of the memory of a step.

Reads   DATASET/train.jsonl, val.jsonl, dataset_config.json
Writes  ADAPTER/adapter_model.safetensors, adapter_config.json (peft), chat_template.jinja, train_config.json,
        report.json (examples, steps, seconds per step, losses), loss.png, checkpoints/step-NNNNNN/ (resumable)
"""

from __future__ import annotations

import logging
import math
import random
import re
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from knowledge.answer.citations import MARKER

from .artifacts import (
    DATASET_CONFIG,
    LOSS_PNG,
    REPORT,
    TEMPLATE,
    TRAIN,
    TRAIN_CONFIG,
    VAL,
    read_json,
    read_jsonl,
    sha256_text,
    write_json,
)
from .base_model import chat_template, dense_copy, load_model, load_tokenizer, lora_targets, resolve_base, resolve_dtype
from .config import TrainConfig, as_dict
from .errors import AdapterError
from .report import plot_losses

log = logging.getLogger(__name__)

IGNORE = -100  # label of tokens that carry no loss


@dataclass
class Encoded:
    ids: list[int]
    labels: list[int]  # IGNORE on the prompt, the token ids on the answer
    weights: list[float] | None = None  # loss weight of each position (None = 1 everywhere)


def citation_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the source numbers inside the [n] markers of text."""
    return [(m.start(1) + d.start(), m.start(1) + d.end())
            for m in MARKER.finditer(text) for d in re.finditer(r"\d+", m.group(1))]


def token_weights(offsets: list[tuple[int, int]], spans: list[tuple[int, int]], weight: float) -> list[float]:
    """`weight` for each token that overlaps one of the spans, 1 for the others."""
    return [weight if any(a < e and s < b for s, e in spans) else 1.0 for a, b in offsets]


def encode(tokenizer, messages: list[dict], citation_weight: float = 1.0) -> Encoded:
    """Prompt exactly as served (generation prompt included), then the answer and the end of turn.

    With citation_weight != 1 the tokens of the source numbers in the answer's [n] markers weigh that much in
    the loss: one token in forty decides which source is credited, and the rest of the answer drowns it out."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise AdapterError("the chat template renders the conversation differently once the answer is added")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_text = full[len(prompt):]
    answer = tokenizer(answer_text, add_special_tokens=False, return_offsets_mapping=citation_weight != 1)
    answer_ids = answer["input_ids"]
    if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
        prompt_ids = [tokenizer.bos_token_id, *prompt_ids]  # llama.cpp adds it too (tokenizer.ggml.add_bos_token)
    weights = None
    if citation_weight != 1:
        spans = citation_spans(answer_text)
        weights = [1.0] * len(prompt_ids) + token_weights(answer["offset_mapping"], spans, citation_weight)
    return Encoded(prompt_ids + answer_ids, [IGNORE] * len(prompt_ids) + answer_ids, weights)


def collate(batch: list[Encoded], pad_id: int) -> dict:
    """Left padding: answers end at the last position; `keep` = positions whose logits are needed."""
    import torch

    length = max(len(e.ids) for e in batch)
    first_label = min(length - len(e.ids) + next(i for i, t in enumerate(e.labels) if t != IGNORE) for e in batch)
    pad = [length - len(e.ids) for e in batch]
    labels = torch.tensor([[IGNORE] * p + e.labels for p, e in zip(pad, batch, strict=True)])
    weights = torch.tensor([[1.0] * p + (e.weights or [1.0] * len(e.ids)) for p, e in zip(pad, batch, strict=True)])
    return {
        "input_ids": torch.tensor([[pad_id] * p + e.ids for p, e in zip(pad, batch, strict=True)]),
        "attention_mask": torch.tensor([[0] * p + [1] * len(e.ids) for p, e in zip(pad, batch, strict=True)]),
        "position_ids": torch.tensor([[0] * p + list(range(len(e.ids))) for p, e in zip(pad, batch, strict=True)]),
        "labels": labels,
        "weights": weights * (labels != IGNORE),  # loss weight of each answer token, 0 elsewhere
        "keep": length - first_label + 1,
    }


def batch_loss(model, batch: dict, dtype):
    """(weighted sum of token losses, sum of the weights) for one micro-batch."""
    import torch
    import torch.nn.functional as F

    keep, labels = batch["keep"], batch["labels"]
    with torch.autocast("cpu", dtype=dtype, enabled=dtype != torch.float32):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       position_ids=batch["position_ids"], logits_to_keep=keep).logits
    targets = labels[:, labels.shape[1] - keep + 1:]
    weights = batch["weights"][:, labels.shape[1] - keep + 1:]
    losses = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                             ignore_index=IGNORE, reduction="none")
    return (losses * weights.reshape(-1)).sum(), float(weights.sum())


def micro_batches(n: int, batch_size: int, seed: int, start: int = 0):
    """Index lists, epoch after epoch, each epoch shuffled by (seed, epoch): resuming skips `start` of them."""
    per_epoch = math.ceil(n / batch_size)
    k = start
    while True:
        epoch, i = divmod(k, per_epoch)
        order = list(range(n))
        random.Random(seed * 1000 + epoch).shuffle(order)
        yield order[i * batch_size:(i + 1) * batch_size]
        k += 1


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to a tenth (nanoGPT's get_lr)."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def validation_loss(model, examples: list[Encoded], cfg: TrainConfig, pad_id: int, dtype) -> float:
    import torch

    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), cfg.batch_size):
            loss, n = batch_loss(model, collate(examples[i:i + cfg.batch_size], pad_id), dtype)
            total, tokens = total + float(loss), tokens + n
    model.train()
    return total / max(tokens, 1)


# -- checkpoints ---------------------------------------------------------------------------------------
RESUME_KEYS = ("base", "lora_r", "lora_alpha", "lora_dropout", "target_modules", "batch_size", "grad_accum",
               "learning_rate", "seed", "max_seq_len")


def latest_checkpoint(folder: Path) -> Path | None:
    done = sorted(p for p in folder.glob("step-*") if (p / "trainer.pt").is_file())
    return done[-1] if done else None


def save_checkpoint(model, optimizer, state: dict, folder: Path, keep: int) -> None:
    import torch

    path = folder / f"step-{state['step']:06d}"
    model.save_pretrained(path, save_embedding_layers=False)
    torch.save({"optimizer": optimizer.state_dict(), **state}, path / "trainer.tmp")
    (path / "trainer.tmp").replace(path / "trainer.pt")  # written last: a checkpoint without it is incomplete
    for old in sorted(folder.glob("step-*"))[:-keep]:
        shutil.rmtree(old)


def resume(model, optimizer, folder: Path, cfg: TrainConfig, data_sha: str) -> dict | None:
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    path = latest_checkpoint(folder)
    if path is None:
        return None
    state = torch.load(path / "trainer.pt", weights_only=False)
    same = {k: state["config"].get(k) for k in RESUME_KEYS} == {k: getattr(cfg, k) for k in RESUME_KEYS}
    if not same or state["data_sha"] != data_sha:
        raise AdapterError(f"{path} was made with other settings or data: use a new output folder "
                           "or delete its checkpoints/")
    set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
    optimizer.load_state_dict(state.pop("optimizer"))
    log.info("resuming from %s", path)
    return state


# -- the stage -----------------------------------------------------------------------------------------
def train(dataset_dir: Path, out_dir: Path, cfg: TrainConfig, models_dir: Path, progress: bool = True) -> dict:
    """Fine-tune a LoRA adapter on the dataset folder; returns the run report (also written as report.json)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm

    dataset = read_json(dataset_dir / DATASET_CONFIG, "run the dataset stage first")
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base = resolve_base(cfg.base, models_dir)
    weights = dense_copy(base) if cfg.cache_base else base  # what is loaded; `base` is what is recorded
    dtype = resolve_dtype(cfg.dtype)
    tokenizer = load_tokenizer(weights)
    template = chat_template(tokenizer, base.spec)

    # data: encode, drop what does not fit
    rows, val_rows = read_jsonl(dataset_dir / TRAIN), read_jsonl(dataset_dir / VAL)[: cfg.val_max_examples]
    encoded = [encode(tokenizer, r["messages"], cfg.citation_weight) for r in rows]
    examples = [e for e in encoded if len(e.ids) <= cfg.max_seq_len]
    val = [e for e in (encode(tokenizer, r["messages"]) for r in val_rows) if len(e.ids) <= cfg.max_seq_len]
    if not examples:
        raise AdapterError(f"no training example fits max_seq_len={cfg.max_seq_len}")
    per_step = cfg.batch_size * cfg.grad_accum
    total = cfg.max_steps or math.ceil(cfg.epochs * len(examples) / per_step)
    lengths = sorted(len(e.ids) for e in examples)
    answer_tokens = sum(len(e.ids) - e.labels.count(IGNORE) for e in examples)
    derived = {"examples": len(examples), "dropped_too_long": len(encoded) - len(examples), "val_examples": len(val),
               "steps": total, "examples_per_step": per_step, "epochs": round(total * per_step / len(examples), 2),
               "tokens_p50": lengths[len(lengths) // 2], "tokens_max": lengths[-1],
               "answer_tokens_mean": round(answer_tokens / len(examples), 1),
               "citation_tokens": sum(1 for e in examples for w in e.weights or [] if w != 1.0),
               "dtype": str(dtype).removeprefix("torch."), "threads": torch.get_num_threads()}
    log.info("derived: %s", derived)

    # model
    model = load_model(weights, dtype)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()  # the frozen embeddings would otherwise cut the graph
    targets = lora_targets(model.config.model_type, cfg.target_modules)
    lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    data_sha = dataset["sha256"][TRAIN]
    checkpoints = out_dir / "checkpoints"
    state = resume(model, optimizer, checkpoints, cfg, data_sha) or {
        "step": 0, "train_loss": [], "val_loss": [], "seconds": 0.0, "config": as_dict(cfg), "data_sha": data_sha}
    resolved = {"config": as_dict(cfg), "base": base.describe() | {"weights": weights.location},
                "model_type": model.config.model_type,
                "target_modules": targets, "dtype": derived["dtype"], "dataset": str(dataset_dir.resolve()),
                "dataset_sha256": dataset["sha256"], "prompt": dataset["prompt"],
                "chat_template_sha256": sha256_text(template), "derived": derived}
    write_json(out_dir / TRAIN_CONFIG, resolved)
    (out_dir / TEMPLATE).write_text(template, encoding="utf-8")

    # loop
    pad_id = tokenizer.pad_token_id
    batches = micro_batches(len(examples), cfg.batch_size, cfg.seed, start=state["step"] * cfg.grad_accum)
    if not state["val_loss"] and val:
        state["val_loss"].append([0, round(validation_loss(model, val, cfg, pad_id, dtype), 5)])
    planned = total
    if cfg.max_minutes and state["step"] >= BUDGET_PROBE_STEPS:  # resuming: the budget counts earlier runs too
        total = derived["steps"] = fit_budget(planned, state["step"], state["seconds"], cfg)
    bar = tqdm(total=total, initial=state["step"], desc="training", unit="step", disable=not progress)
    while state["step"] < total:
        step, started = state["step"], time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, cfg)
        micro = [collate([examples[i] for i in next(batches)], pad_id) for _ in range(cfg.grad_accum)]
        n_tokens = sum(float(b["weights"].sum()) for b in micro)
        step_loss = 0.0
        for b in micro:  # weighted mean over the whole step's answer tokens
            loss, _ = batch_loss(model, b, dtype)
            (loss / n_tokens).backward()
            step_loss += float(loss.detach()) / n_tokens
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state["seconds"] += time.perf_counter() - started
        state["step"] = step = step + 1
        state["train_loss"].append([step, round(step_loss, 5)])
        if cfg.max_minutes and step >= BUDGET_PROBE_STEPS:
            total = fit_budget(planned, step, state["seconds"], cfg)  # re-fitted as the pace changes
            bar.total = derived["steps"] = total
            derived["epochs"] = round(total * per_step / len(examples), 2)
        bar.update(1)
        bar.set_postfix(loss=f"{step_loss:.3f}", s_per_step=f"{state['seconds'] / len(state['train_loss']):.1f}")
        last = step == total
        if val and (step % cfg.eval_interval == 0 or last):
            state["val_loss"].append([step, round(validation_loss(model, val, cfg, pad_id, dtype), 5)])
        if step % cfg.checkpoint_interval == 0 or last:
            save_checkpoint(model, optimizer, state, checkpoints, cfg.keep_checkpoints)
            write_report(out_dir, state, derived, total, done=last)
    bar.close()

    model.save_pretrained(out_dir, save_embedding_layers=False)  # adapter_model.safetensors + adapter_config.json
    return write_report(out_dir, state, derived, total, done=True)


BUDGET_PROBE_STEPS = 3  # steps timed before the budget sets the step count


def fit_budget(total: int, step: int, seconds: float, cfg: TrainConfig) -> int:
    """Steps that fit in cfg.max_minutes at the measured pace (never fewer than done, never more than planned).

    The pace is optimizer steps only: validation passes and checkpoints come on top (a few percent)."""
    per_step = seconds / step
    budget = cfg.max_minutes * 60
    return max(step, min(total, int(budget / per_step)))


def write_report(out_dir: Path, state: dict, derived: dict, total: int, done: bool) -> dict:
    steps_run = len(state["train_loss"])
    report = {"status": "done" if done else "running", **derived, "steps_done": state["step"], "steps": total,
              "seconds": round(state["seconds"], 1),
              "seconds_per_step": round(state["seconds"] / steps_run, 2) if steps_run else None,
              "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
              "first_train_loss": state["train_loss"][0][1] if state["train_loss"] else None,
              "final_train_loss": state["train_loss"][-1][1] if state["train_loss"] else None,
              "first_val_loss": state["val_loss"][0][1] if state["val_loss"] else None,
              "final_val_loss": state["val_loss"][-1][1] if state["val_loss"] else None,
              "train_loss": state["train_loss"], "val_loss": state["val_loss"]}
    write_json(out_dir / REPORT, report)
    plot_losses(state["train_loss"], state["val_loss"], out_dir / LOSS_PNG)
    return report
