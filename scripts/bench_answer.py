"""Answer benchmark: the pipeline vs raw llama.cpp on the same final prompt, and the prefix cache.

    .venv/bin/python scripts/bench_answer.py [--n 8] [--generator PATH] [--corpus DIR] [--qa FILE]

For N questions of the QA set (default ../shared/eval/dev.jsonl over ../shared/corpus/ia-aplicada, or
the sample course), in one process with one loaded model:
  pipeline     retrieval + prompt + queued generation + attribution (what `coursebot ask` does)
  raw          llama.cpp's create_chat_completion on the pipeline's final messages, same max tokens
  raw, no cache the same with the KV cache cleared first (no shared system-prompt prefix)
Prints TTFT and total time p50/p95 for each, the overhead ratio (target <= 1.10), TTFT p50 with the
cached prefix (target <= 5 s on the default 1.5B model), and when the sources reach the caller (<= 1 s).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from knowledge.answer import AnswerResult, Retrieved
from knowledge.cli import eval_collection
from knowledge.core import Knowledge
from knowledge.evaluation import load_items
from knowledge.prompt import build_messages
from knowledge.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# -- config -------------------------------------------------------------------------------------------
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--n", type=int, default=8, help="questions (answerable ones first)")
parser.add_argument("--generator", type=Path, help="GGUF model (default: the configured generator)")
default_corpus = SHARED / "corpus/ia-aplicada" if SHARED.is_dir() else REPO / "sample_course"
default_qa = SHARED / "eval/dev.jsonl" if SHARED.is_dir() else REPO / "sample_course/preguntas.jsonl"
parser.add_argument("--corpus", type=Path, default=default_corpus)
parser.add_argument("--qa", type=Path, default=default_qa)
parser.add_argument("--data-dir", type=Path, help="reuse an existing data dir (saves the ingest)")
args = parser.parse_args()

settings = load_settings(**({"data_dir": args.data_dir} if args.data_dir else {}))
if args.generator:
    settings.generator_model = str(args.generator)
items = sorted(load_items(args.qa), key=lambda i: not i.answerable)[: args.n]
print(f"{len(items)} questions from {args.qa.name}; corpus {args.corpus}")


def p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def raw_run(llama, messages: list[dict], max_tokens: int) -> tuple[float, float]:
    start, ttft = time.perf_counter(), None
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.1,
                                              top_p=0.9, repeat_penalty=1.1, stream=True, seed=0):
        if ttft is None and chunk["choices"][0]["delta"].get("content"):
            ttft = time.perf_counter() - start
    total = time.perf_counter() - start
    return (ttft or total) * 1000, total * 1000


with Knowledge(settings) as kb:
    ev = kb.with_collection(eval_collection(args.corpus, settings))
    ev.indexer.refresh(args.corpus)
    answerer, generator = ev.answerer, ev.generator
    llama = generator.llama  # load the model before timing anything
    max_tokens = answerer.settings.max_answer_tokens
    rows = []
    for item in items:
        # -- pipeline ---------------------------------------------------------------------------------
        start = time.perf_counter()
        sources_at = None
        for event in answerer.answer_stream(item.question):
            if isinstance(event, Retrieved):
                sources_at = (time.perf_counter() - start) * 1000
                sources = event.sources
            elif isinstance(event, AnswerResult):
                result = event
        pipe_total = (time.perf_counter() - start) * 1000
        pipe_ttft = result.timings["ttft_ms"] + result.timings["retrieval_ms"]
        messages = build_messages(answerer.system, sources, item.question)
        # -- raw llama.cpp, same final prompt, prefix cached as in the pipeline -------------------------
        llama.create_chat_completion(messages=[messages[0], {"role": "user", "content": "ok"}], max_tokens=1)
        raw_ttft, raw_total = raw_run(llama, messages, max_tokens)
        # -- raw llama.cpp, cache cleared ---------------------------------------------------------------
        llama.reset()  # n_tokens = 0: no prefix can match, the whole prompt is processed
        cold_ttft, _ = raw_run(llama, messages, max_tokens)
        rows.append({"sources_ms": sources_at, "pipe_ttft": pipe_ttft, "pipe_total": pipe_total,
                     "raw_ttft": raw_ttft, "raw_total": raw_total, "cold_ttft": cold_ttft,
                     "prompt_tokens": result.timings["prompt_tokens"], "cached": result.timings["cached_tokens"],
                     "completion_tokens": result.timings["completion_tokens"]})
        print(f"  {item.id}: sources {sources_at:.0f} ms, pipeline ttft {pipe_ttft / 1000:.1f}s total "
              f"{pipe_total / 1000:.1f}s | raw ttft {raw_ttft / 1000:.1f}s total {raw_total / 1000:.1f}s | "
              f"no-cache ttft {cold_ttft / 1000:.1f}s | prompt {rows[-1]['prompt_tokens']} "
              f"(cached {rows[-1]['cached']}), answer {rows[-1]['completion_tokens']} tokens", flush=True)

# -- report -------------------------------------------------------------------------------------------
col = {k: [r[k] for r in rows] for k in rows[0]}
print(f"\nmodel: {generator.name}, {generator.n_threads} threads")
print(f"{'figure':<36} {'p50':>9} {'p95':>9}  target")
for name, key, target in [("sources reach the caller (ms)", "sources_ms", "<= 1000"),
                          ("pipeline TTFT (ms)", "pipe_ttft", "<= 5000 (1.5B)"),
                          ("raw llama.cpp TTFT, prefix cached (ms)", "raw_ttft", "baseline"),
                          ("raw llama.cpp TTFT, no cache (ms)", "cold_ttft", "baseline"),
                          ("pipeline total (ms)", "pipe_total", ""),
                          ("raw llama.cpp total (ms)", "raw_total", "baseline")]:
    print(f"{name:<36} {p(col[key], 0.5):>9.0f} {p(col[key], 0.95):>9.0f}  {target}")
ratio = statistics.median(a / b for a, b in zip(col["pipe_total"], col["raw_total"], strict=True))
cache_gain = statistics.median(a / b for a, b in zip(col["cold_ttft"], col["raw_ttft"], strict=True))
print(f"{'overhead (pipeline / raw total)':<36} {ratio:>9.3f} {'':>9}  <= 1.10")
print(f"{'prefix cache TTFT speed-up':<36} {cache_gain:>9.2f}x")
print(f"{'prompt tokens (median)':<36} {statistics.median(col['prompt_tokens']):>9.0f}   "
      f"cached {statistics.median(col['cached']):.0f}")
