"""Issue 25 §4, one measurement: the 1.5B reads a ~500-token prompt and writes 48 tokens; prints the raw rates.

    python docs/experiments/threads.py THREADS [N_BATCH]

The paired runs (farm-bench, A B A B …) and what they decided: latency-levers.md.
"""

import json
import os
import sys
import time
from pathlib import Path

from llama_cpp import Llama

MODELS = Path(os.environ.get("COURSEBOT_MODELS_DIR", Path.home() / ".cache/coursebot/models"))
SOURCE = Path(__file__).resolve().parents[2] / "sample_course/programa.md"

threads = int(sys.argv[1])
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 512
llama = Llama(model_path=str(MODELS / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"), n_ctx=2048, n_threads=threads,
              n_threads_batch=threads, n_batch=batch, verbose=False, seed=0)
prompt = llama.tokenize(("Fuentes:\n" + SOURCE.read_text(encoding="utf-8"))[:1800].encode())[:500]

start = time.perf_counter()
llama.eval(prompt)
read = time.perf_counter() - start

start, written = time.perf_counter(), 0
for _ in llama.generate(prompt, temp=0.0):  # the prompt is in the KV cache: only its last token is re-read
    written += 1
    if written == 48:
        break
write = time.perf_counter() - start

print(json.dumps({"threads": threads, "batch": batch, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                  "prompt_tps": round(len(prompt) / read, 1), "gen_tps": round(written / write, 1)}))
