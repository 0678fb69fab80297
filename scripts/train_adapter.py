"""Fine-tune the answer model on a course with LoRA, export it as GGUF and gate it: the whole job, top to bottom.

    .venv/bin/python scripts/train_adapter.py --course=../shared/corpus/ia-aplicada \\
        --base=qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --max_steps=300 --run=data/adapters/qwen05b

Stages, each reading the previous one's folder and writing its resolved config beside its output:
  dataset  RUN/dataset/  train.jsonl, val.jsonl, heldout.jsonl, dataset_config.json
  write    RUN/written/  the same, answers written by --write_model and checked (optional; train reads it)
  train    RUN/adapter/  adapter_model.safetensors, train_config.json, report.json, loss.png, checkpoints/
  merge    RUN/merged/   model.safetensors (f16), tokenizer, chat_template.jinja, merge_config.json
  export   RUN/gguf/     model-Q4_K_M.gguf, manifest.json, export_config.json
  gate     RUN/gguf/     gate.json, and the manifest's evaluation; exit code 2 when the gate fails
Training resumes from RUN/adapter/checkpoints/ when run again with the same options.

Options: --run=DIR, --course=DIR, --stages=dataset,train,merge,export,gate, and --key=value for any field of
the stage configs in adapters/config.py (`coursebot adapter options` lists them). Unknown options stop the
script before any work. Settings (Weaviate, models dir, course name, prompt budget) come from the environment
and .env, as for `coursebot`; the script serves them to every stage from one object.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from adapters.artifacts import RunPaths, read_json
from adapters.base_model import prefer_passive_threads
from adapters.config import Configs, TrainConfig, parse_overrides
from adapters.errors import ConfigError
from knowledge.errors import KnowledgeError

prefer_passive_threads()  # before torch or llama.cpp loads OpenMP: spinning threads starve a shared CPU


def _one_boundary(kind, error, tb):  # a stage's own error says what to fix: print it, not a traceback
    if isinstance(error, KnowledgeError):
        sys.exit(f"error: {error}")
    sys.__excepthook__(kind, error, tb)


sys.excepthook = _one_boundary

# -- config ----------------------------------------------------------------------------------------------
run_dir = None  # run folder (default: DATA_DIR/adapters/default)
course = None  # course folder to learn (default: the course already indexed in COURSEBOT_COLLECTION)
stages = "dataset,train,merge,export,gate"  # which stages to run, in this order
configs = Configs()  # every stage option, with its meaning, in adapters/config.py

ALL_STAGES = ("dataset", "write", "train", "merge", "export", "gate")
own, passed = {}, []
for arg in sys.argv[1:]:  # reject anything unknown now, not after an hour of training
    key, _, value = arg.removeprefix("--").partition("=")
    if key in ("run", "course", "stages"):
        own[key] = value
    elif arg in ("-h", "--help"):
        print(__doc__)
        sys.exit(0)
    else:
        passed.append(arg)
try:
    configs = parse_overrides(passed, configs)
except ConfigError as e:
    sys.exit(f"error: {e}")
run_dir, course, stages = own.get("run", run_dir), own.get("course", course), own.get("stages", stages)
selected = [s.strip() for s in stages.split(",") if s.strip()]
if unknown := [s for s in selected if s not in ALL_STAGES]:
    sys.exit(f"unknown stage(s) {unknown}; choose from {', '.join(ALL_STAGES)}")
if "write" in selected and not configs.write.write_model:
    sys.exit("error: the write stage needs --write_model=MODEL.gguf (e.g. the 1.5B writing for a 0.5B run)")
if course is not None and not Path(course).is_dir():
    sys.exit(f"--course={course}: not a folder")

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
logging.getLogger("adapters").setLevel(logging.INFO)
logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs request URLs

from knowledge.core import Knowledge  # noqa: E402  (after the options are known to be valid)
from knowledge.settings import load_settings  # noqa: E402

settings = load_settings()
run = RunPaths(Path(run_dir) if run_dir else settings.resolved_data_dir / "adapters" / "default")
t = configs.train
trained = run.adapter / "train_config.json"
if "train" not in selected and trained.is_file():  # later stages follow the adapter, not today's --base
    t = TrainConfig(**read_json(trained, "the adapter's training config")["config"])
print(f"run folder   {run.root}")
print(f"stages       {' → '.join(selected)}")
print(f"base         {t.base} (LoRA r={t.lora_r}, alpha={t.lora_alpha}, targets={t.target_modules}, dtype={t.dtype})")
print(f"per step     {t.batch_size} examples × {t.grad_accum} accumulation = {t.batch_size * t.grad_accum} examples, "
      f"≤ {t.max_seq_len} tokens each; " + (f"{t.max_steps} steps" if t.max_steps else f"{t.epochs} epochs"))
print(f"export       {configs.export.quantization}; gate: the served form (serve={configs.gate.serve}) within "
      f"{100 * configs.gate.max_drop:.0f} pts of merged on citation precision and abstention")

# -- 1. dataset: RAFT-style examples in the pipeline's own prompt format ----------------------------------
if "dataset" in selected:
    from adapters.dataset import course_view, make_dataset
    from knowledge.answer.prompt import PromptShape

    if course is not None:
        configs.dataset.course_dir = str(Path(course).resolve())
    course_dir = Path(configs.dataset.course_dir) if configs.dataset.course_dir else None
    shape = PromptShape.from_settings(settings, configs.dataset.course_name)
    with Knowledge(settings) as kb:
        view = course_view(kb, course_dir) if course_dir else kb
        summary = make_dataset(view, configs.dataset, shape, run.dataset, course_dir)
    counts = summary["counts"]
    print(f"dataset      {counts['train']} training examples ({counts['train_by_kind']}), {counts['val']} validation, "
          f"{counts['heldout']} held-out items; checked against {summary['leak_check']['eval_items']} evaluation "
          f"questions ({counts.get('dropped_eval_overlap', 0)} dropped)")

# -- 1b. write: a stronger model answers the training prompts; answers failing the pipeline's checks are dropped --
if "write" in selected:
    from adapters.writer import write_stage

    w = configs.write
    summary = write_stage(run.dataset, run.written, w, settings,
                          lambda made, verdicts: print(f"write        {made} written: {dict(verdicts)}", flush=True))
    done = summary["written"]
    print(f"write        {done['train_written']} of {done['train']} training examples written by {w.write_model} "
          f"(verdicts {done['verdicts']['train']}), {done['val_written']} validation")

# -- 2. train: LoRA on CPU, loss on the answer only, resumable ------------------------------------------------
if "train" in selected:
    from adapters.train import train
    from adapters.writer import training_data

    report = train(training_data(run.dataset, run.written), run.adapter, configs.train, settings.models_dir)
    print(f"train        {report['steps_done']} steps at {report['seconds_per_step']} s/step; "
          f"val loss {report['first_val_loss']} → {report['final_val_loss']}; peak RSS {report['peak_rss_gib']} GiB")

# -- 3. merge: base + adapter → one float16 transformers folder --------------------------------------------
if "merge" in selected:
    from adapters.merge import merge

    merge(run.adapter, run.merged, configs.merge)
    print(f"merge        {run.merged} (adapter at ×{configs.merge.lora_scale:g} of its trained strength)")

# -- 4. export: vendored llama.cpp converter, then quantization, then the manifest -------------------------
if "export" in selected:
    from adapters.export import export

    gguf = export(run.merged, run.gguf, configs.export, settings.n_threads or 0)
    print(f"export       {gguf} ({gguf.stat().st_size / 2**20:.0f} MiB)")

# -- 5. gate: base vs merged vs quantized on `coursebot eval`'s answer metrics ----------------------------
if "gate" in selected:
    from adapters.artifacts import MANIFEST
    from adapters.gate import describe_gains, gate
    from adapters.report import side_by_side, worth_telling

    def gate_progress(what: str, done: int, total: int) -> None:
        if worth_telling(done, total):
            print(f"gate         {what}: {done}/{total} answers", flush=True)

    with Knowledge(settings) as kb:
        result = gate(kb, run.gguf / MANIFEST, configs.gate, settings, gate_progress)
    print(f"\n{'eval set':<10} {'metric':<20} {'base':>8} {'merged':>8} {'quantized':>10} {'base+LoRA':>10}")
    for name, metric, *values in side_by_side(result["evaluation"]):
        print(f"{name:<10} {metric:<20} {values[0]:>8} {values[1]:>8} {values[2]:>10} {values[3]:>10}")
    for name, when in result["base_reused"].items():
        print(f"{name}: the base's answers reused from its evaluation of {when} (same model, items, index and code)")
    print(f"\n{describe_gains(result['gains'], result['served'])}")
    verdict = "passed" if result["passed"] else "FAILED: " + "; ".join(result["reasons"])
    print(f"\ngate ({result['served']} vs merged) {verdict}")
    if not result["passed"]:
        sys.exit(2)
