"""Stage 5 — the parity gate and the gain report.

The same answer metrics as `coursebot eval` (`run_pipeline` + `answer_metrics`), through the same pipeline
(retrieval, prompt, citation attribution, abstention), for three generators:
  base       the base GGUF under llama.cpp (what serves today)
  merged     the merged model under transformers (the tuned model before quantization)
  quantized  the exported GGUF under llama.cpp (what would serve)
  lora       the base GGUF with the adapter applied by llama.cpp at load (runtime LoRA), when exported
on the held-out split of the dataset, and on ../shared/eval/dev.jsonl over its corpus when present.

Its primary criterion is the headline score (`knowledge.evaluation.outcomes`: one outcome per question, correct
/ missed / wrong, score = correct − wrong): the form that would serve (`quantized`, or `lora` — see
GateConfig.serve) must beat the base's score on every evaluation set (by more than `min_gain`), each set large
enough (`min_heldout`, `min_public`), with the item-by-item comparison recorded (changes each way, exact sign
test; adapters/report.py describes them). It also fails when the served form is more than `max_drop` below
`merged` on citation precision or abstention (what quantization may cost), or when a chat template is missing or
differs from the training one.

The base GGUF's answers do not depend on the run: they are kept in DATA_DIR/gate-base/ under a key of
everything that shapes them (the base's hash, the items, the index, the prompt shape, context and threads,
llama.cpp's version and the answer pipeline's own code), so the next run's gate measures only the tuned forms.

Reads   GGUF/manifest.json (and through it the dataset, adapter and merged folders)
Writes  GGUF/gate.json; the manifest's "evaluation" and "gate"; GGUF/gate-details/SET.jsonl (every answer of
        every system, the format of `coursebot eval --details`, for `scripts/eval_details.py`);
        GGUF/gate.partial.json while it runs (a gate run again after an interruption resumes from it);
        DATA_DIR/gate-base/KEY.json and KEY.jsonl (the base's metrics and answers for one evaluation set)
"""

from __future__ import annotations

import gc
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from itertools import zip_longest
from pathlib import Path

from knowledge.answer.abstention import Thresholds
from knowledge.answer.answerer import Answerer, AnswerSettings
from knowledge.answer.generation import GenerationQueue, LlamaGenerator
from knowledge.answer.prompt import PromptShape
from knowledge.evaluation.metrics import AnswerRecord, answer_metrics, load_items, run_pipeline
from knowledge.evaluation.outcomes import outcome_report, outcomes_by_id, paired, write_details

from .artifacts import DATASET_CONFIG, DETAILS, GATE, HELDOUT, PARTIAL, TEMPLATE, read_json, sha256_text, write_json
from .config import SHARED_CORPUS, SHARED_EVAL, GateConfig, as_dict
from .errors import AdapterError
from .export import gguf_facts, runtime_lora

log = logging.getLogger(__name__)

BASE_CACHE = "gate-base"  # in DATA_DIR: the base GGUF's evaluations, reused by every run measuring it the same way
KNOWLEDGE = Path(__file__).resolve().parents[1] / "knowledge"  # the answer pipeline's code: part of the base's key
SYSTEMS = ("base", "merged", "quantized", "lora")
GATED = ("citation_precision", "abstention")  # what quantization must not cost


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)


def served_form(serve: str, manifest: dict) -> str:
    """Which tuned form serves: `serve` as configured, auto = runtime LoRA when the export has one."""
    has_lora = runtime_lora(manifest) is not None
    if serve == "lora" and not has_lora:
        raise AdapterError("serve=lora needs a GGUF base and an adapter GGUF (export with runtime_lora=true)")
    return serve if serve != "auto" else ("lora" if has_lora else "quantized")


def decide(evaluation: dict, templates: dict[str, str | None], max_drop: float, served: str = "quantized",
           min_gain: float = 0.0, minimum: dict[str, int] | None = None) -> Verdict:
    """Pure: templates all present and identical to training's; the served form within max_drop of merged; its
    score above the base's by more than `min_gain` on every set (min_gain < −2 turns that off); each set at least
    `minimum[set]` items."""
    reasons = []
    training = templates.get("training")
    for system, template in templates.items():
        if not template:
            reasons.append(f"chat template missing ({system})")
        elif training and template != training:
            reasons.append(f"chat template of {system} differs from the training one")
    for name, systems in evaluation.items():
        merged, serving = systems.get("merged"), systems.get(served)
        if not merged or not serving:
            reasons.append(f"{name}: merged or {served} not evaluated")
            continue
        for metric in GATED:
            m, q = merged.get(metric), serving.get(metric)
            if m is None or q is None:
                continue  # e.g. no unanswerable item in this set
            if q < m - max_drop - 1e-9:
                reasons.append(f"{name}: {metric} {q:.3f} {served} vs {m:.3f} merged "
                               f"(drop {100 * (m - q):.1f} pts > {100 * max_drop:.1f})")
    if min_gain >= -2:
        reasons += score_reasons(evaluation, served, min_gain, minimum or {})
    return Verdict(not reasons, reasons)


def score_reasons(evaluation: dict, served: str, min_gain: float, minimum: dict[str, int]) -> list[str]:
    """Why the served form's headline score does not beat the base's, set by set (empty: it does)."""
    reasons = []
    for name, systems in evaluation.items():
        if not systems.get(served):
            continue  # decide said so already
        base, tuned = (systems.get(s, {}).get("outcomes") for s in ("base", served))
        if not base or not tuned:
            reasons.append(f"{name}: no base score to beat" if tuned else f"{name}: {served} has no score")
            continue
        if tuned["n"] < minimum.get(name, 0):
            reasons.append(f"{name}: {tuned['n']} items, fewer than the {minimum[name]} needed to tell a gain")
        if tuned["score"] is not None and base["score"] is not None and tuned["score"] <= base["score"] + min_gain:
            reasons.append(f"{name}: score {tuned['score']:+.3f} {served} vs {base['score']:+.3f} base "
                           f"(needs > {base['score'] + min_gain:+.3f})")
    return reasons


def gains(evaluation: dict, served: str) -> dict:
    """Pure: what the tuning bought — the served form minus the base, per evaluation set: the score first, then
    the gated metrics, and the item-by-item comparison. `improves` when the score rose on every set (without
    scores: nothing worse and something better on the gated metrics); {} and False without a base."""
    per_set, compared = {}, {}
    for name, systems in evaluation.items():
        base, tuned = systems.get("base"), systems.get(served)
        if not (base and tuned):
            continue
        b, t = base.get("outcomes") or {}, tuned.get("outcomes") or {}
        deltas = {"score": round(t["score"] - b["score"], 3)} if t.get("score") is not None and b.get(
            "score") is not None else {}
        deltas |= {m: round(tuned[m] - base[m], 3) for m in GATED
                   if tuned.get(m) is not None and base.get(m) is not None}
        per_set[name] = deltas
        if "by_id" in b and "by_id" in t:
            compared[name] = paired(b["by_id"], t["by_id"]).describe("base", served)
    if per_set and all("score" in ds for ds in per_set.values()):
        improves = all(ds["score"] > 0 for ds in per_set.values())
    else:
        improves = bool(per_set) and all(all(d >= 0 for d in ds.values()) and any(d > 0 for d in ds.values())
                                         for ds in per_set.values())
    return {"vs_base": per_set, "improves": improves, "paired": compared}


@dataclass
class EvalSet:
    name: str
    qa: Path
    collection: str | None  # None: the corpus' own evaluation collection
    corpus: Path | None  # refreshed before use when given


def eval_sets(cfg: GateConfig, dataset: dict, dataset_dir: Path) -> list[EvalSet]:
    course = Path(dataset["source"]["course_dir"]) if dataset["source"]["course_dir"] else None
    sets = [EvalSet("heldout", dataset_dir / HELDOUT, dataset["source"]["collection"], course)]
    pairs = []
    if cfg.eval_sets == "auto":
        if SHARED_EVAL.is_file() and SHARED_CORPUS.is_dir():
            pairs.append((SHARED_EVAL, SHARED_CORPUS))
    elif cfg.eval_sets:
        for spec in cfg.eval_sets.split(","):
            qa, _, corpus = spec.partition(":")
            pairs.append((Path(qa), Path(corpus)))
    sets += [EvalSet(qa.stem, qa, None, corpus) for qa, corpus in pairs]
    return sets


def balanced(items: list, limit: int) -> list:
    """The first `limit` items, alternating answerable and unanswerable ones so both metrics stay measured."""
    if not limit:
        return items
    yes, no = [i for i in items if i.answerable], [i for i in items if not i.answerable]
    mixed = [i for pair in zip_longest(yes, no) for i in pair if i is not None]
    return mixed[:limit]


def answer_settings(settings, prompt: dict, cfg: GateConfig) -> AnswerSettings:
    """The pipeline as the dataset was built for it: the prompt shape the dataset recorded (course name, sources'
    budget), the serving settings for the rest."""
    return AnswerSettings(shape=PromptShape(**prompt),
                          max_answer_tokens=cfg.max_answer_tokens or settings.max_answer_tokens,
                          max_history_turns=settings.history_turns, max_question_tokens=settings.max_question_tokens,
                          thresholds=Thresholds(settings.abstain_min_support, settings.abstain_min_similarity,
                                                settings.answer_check))


def evaluate(view, generator, items, settings: AnswerSettings,
             progress: Callable[[int, int], None] | None = None) -> list[AnswerRecord]:
    answerer = Answerer(view.retriever, generator, GenerationQueue(), settings)
    try:
        return run_pipeline(answerer, items, progress)
    finally:
        answerer.queue.stop()


def scored(records: list[AnswerRecord]) -> dict:
    """One system on one set: the headline (with each item's outcome, for the paired comparison) and the rest."""
    return {"outcomes": {**outcome_report(records), "by_id": outcomes_by_id(records)}, **answer_metrics(records)}


def base_key(base_sha: str, items: list, index: str, shape: AnswerSettings, n_ctx: int, threads: int) -> str:
    """Everything the base GGUF's answers on one evaluation set depend on."""
    import llama_cpp

    code = sha256_text("".join(p.read_text(encoding="utf-8") for p in sorted(KNOWLEDGE.rglob("*.py"))))
    return sha256_text(json.dumps({"base": base_sha, "items": [as_dict(i) for i in items], "index": index,
                                   "shape": as_dict(shape), "n_ctx": n_ctx, "threads": threads,
                                   "llama_cpp": llama_cpp.__version__, "pipeline": code},
                                  sort_keys=True, default=str))


def reuse_base(cache: Path, key: str, details: Path) -> dict | None:
    """The base's metrics from an earlier gate with the same key (its answers appended to `details`), or None."""
    metrics, answers = cache / f"{key}.json", cache / f"{key}.jsonl"
    if not (metrics.is_file() and answers.is_file()):
        return None
    with details.open("a", encoding="utf-8") as out:
        out.write(answers.read_text(encoding="utf-8"))
    return json.loads(metrics.read_text(encoding="utf-8"))


def keep_base(cache: Path, key: str, metrics: dict, records: list[AnswerRecord]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    answers = cache / f"{key}.jsonl"
    answers.unlink(missing_ok=True)
    write_details(answers, "base", records)
    write_json(cache / f"{key}.json", metrics | {"measured_at": datetime.now(UTC).isoformat(timespec="seconds")})


def templates_of(manifest: dict) -> dict[str, str | None]:
    adapter, merged = Path(manifest["adapter"]["path"]), Path(manifest["merged"]["path"])

    def text(path: Path) -> str | None:
        return path.read_text(encoding="utf-8") if path.is_file() else None

    base = manifest["base"]
    out = {"training": text(adapter / TEMPLATE), "merged": text(merged / TEMPLATE),
           "quantized": gguf_facts(Path(manifest["gguf"]["path"]))["chat_template"]}
    if base["gguf"]:
        out["base"] = gguf_facts(Path(base["location"]))["chat_template"]
    return out


def gate(kb, manifest_path: Path, cfg: GateConfig, settings,
         progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Evaluate the three systems, decide, and record both in gate.json and the manifest.
    `progress(what, done, total)` after each answer (a 1.5B gate runs for an hour or more)."""
    from .hf_generator import TransformersGenerator

    manifest = read_json(manifest_path, "run the export stage first")
    served = served_form(cfg.serve, manifest)
    dataset_dir = Path(manifest["data"]["path"])
    dataset = read_json(dataset_dir / DATASET_CONFIG, "the dataset folder named in the manifest")
    shape = answer_settings(settings, dataset["prompt"], cfg)
    views, items = {}, {}
    for s in eval_sets(cfg, dataset, dataset_dir):
        if s.collection:
            view = kb.with_collection(s.collection)
        else:
            from knowledge.evaluation.collection import eval_collection

            view = kb.with_collection(eval_collection(s.corpus, settings))
        if s.corpus is not None:
            view.indexer.refresh(s.corpus)
        views[s.name], items[s.name] = view, balanced(load_items(s.qa), cfg.limit)

    n_ctx, threads = settings.n_ctx, settings.n_threads
    makers = {"base": lambda: LlamaGenerator(Path(manifest["base"]["location"]), n_ctx, threads),
              "merged": lambda: TransformersGenerator(Path(manifest["merged"]["path"]), cfg.hf_dtype, threads or 0),
              "quantized": lambda: LlamaGenerator(Path(manifest["gguf"]["path"]), n_ctx, threads)}
    if lora := runtime_lora(manifest):
        makers["lora"] = lambda: LlamaGenerator(Path(manifest["base"]["location"]), n_ctx, threads,
                                                lora_path=Path(lora))
    if not manifest["base"]["gguf"]:
        makers.pop("base")  # a hub/folder base has no GGUF to serve; the gate compares merged and quantized
    # each finished (system, set) is kept in PARTIAL, so an interrupted gate (an hour or more on the 1.5B) resumes
    # where it stopped — when nothing it measures changed: config, models, items and indexes
    key = sha256_text(json.dumps({"config": as_dict(cfg), "base": manifest["base"].get("sha256"),
                                  "gguf": manifest["gguf"]["sha256"], "adapter": manifest["adapter"]["sha256"],
                                  "n_ctx": n_ctx, "shape": as_dict(shape),
                                  "items": {name: [i.id for i in qa] for name, qa in items.items()},
                                  "indexes": {name: view.store.checksum() for name, view in views.items()}},
                                 sort_keys=True, default=str))
    partial_path = manifest_path.parent / PARTIAL
    kept = json.loads(partial_path.read_text(encoding="utf-8")) if partial_path.is_file() else {}
    details = manifest_path.parent / DETAILS
    if kept.get("key") != key:  # a new measurement: nothing from an earlier gate is kept
        kept = {}
        shutil.rmtree(details, ignore_errors=True)
    details.mkdir(exist_ok=True)
    evaluation: dict = kept.get("evaluation") or {name: {} for name in items}
    cache = settings.resolved_data_dir / BASE_CACHE
    base_keys = {name: base_key(manifest["base"].get("sha256"), qa, views[name].store.checksum(), shape, n_ctx,
                                threads) for name, qa in items.items()} if "base" in makers else {}
    reused = {}
    for name in [n for n in base_keys if "base" not in evaluation[n]]:
        if (cached := reuse_base(cache, base_keys[name], details / f"{name}.jsonl")) is not None:
            reused[name] = cached.pop("measured_at", None)
            evaluation[name]["base"] = cached
            write_json(partial_path, {"key": key, "evaluation": evaluation})
    for system, make in makers.items():
        todo = [name for name in items if system not in evaluation[name]]
        if not todo:
            continue
        generator = make()  # one model in memory at a time
        for name in todo:
            records = evaluate(views[name], generator, items[name], shape,
                               progress and partial(progress, f"{system} on {name}"))
            write_details(details / f"{name}.jsonl", system, records)
            evaluation[name][system] = scored(records)
            if system == "base":
                keep_base(cache, base_keys[name], evaluation[name][system], records)
            write_json(partial_path, {"key": key, "evaluation": evaluation})
        del generator
        gc.collect()

    templates = templates_of(manifest)
    minimum = {name: cfg.min_heldout if name == "heldout" else cfg.min_public if name.startswith("squad") else 0
               for name in items}
    verdict = decide(evaluation, templates, cfg.max_drop, served, cfg.min_gain, minimum)
    result = {"config": as_dict(cfg), "evaluation": evaluation, "served": served,
              "passed": verdict.passed, "reasons": verdict.reasons, "gains": gains(evaluation, served),
              "templates_sha256": {k: sha256_text(v) if v else None for k, v in templates.items()},
              "items": {name: len(qa) for name, qa in items.items()},
              "base_reused": reused,  # set → when the base answers reused from DATA_DIR/gate-base were measured
              "index_changed": views["heldout"].store.checksum() != dataset["source"]["index_checksum"]}
    write_json(manifest_path.parent / GATE, result)
    manifest["evaluation"] = evaluation
    manifest["gate"] = {"passed": verdict.passed, "reasons": verdict.reasons, "max_drop": cfg.max_drop,
                        "served": served, "improves_on_base": result["gains"]["improves"]}
    write_json(manifest_path, manifest)
    partial_path.unlink(missing_ok=True)
    return result

