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

from adapters.artifacts import RunPaths
from adapters.base_model import prefer_passive_threads
from adapters.config import Configs, parse_overrides
from adapters.stages import check, plan, run_stages
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
configs = parse_overrides(passed, configs)
run_dir, course, stages = own.get("run", run_dir), own.get("course", course), own.get("stages", stages)
selected = [s.strip() for s in stages.split(",") if s.strip()]
course = Path(course) if course is not None else None
check(selected, configs, course)

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
logging.getLogger("adapters").setLevel(logging.INFO)
logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs request URLs

from knowledge.settings import load_settings  # noqa: E402  (after the options are known to be valid)

settings = load_settings()
run = RunPaths(Path(run_dir) if run_dir else settings.resolved_data_dir / "adapters" / "default")
print("\n".join(plan(selected, configs, run)))

# -- the stages (adapters/stages.py, shared with `coursebot adapter`): dataset → [write →] train → merge →
# export → gate, each reading the previous one's folder
result = run_stages(selected, settings, configs, run, course, say=print,
                    progress=lambda line: print(line, flush=True))
if result is not None and not result["passed"]:
    sys.exit(2)
