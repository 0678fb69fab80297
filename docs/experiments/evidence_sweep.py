"""Issue 24 §3 / 25 §2, one measurement: which prompt shapes put the key facts in front of the model, and at how
many tokens. Retrieval and prompt building only (no generation); the corpus must be indexed as `coursebot eval`
leaves it.

    python docs/experiments/evidence_sweep.py QA.jsonl CORPUS

Prints one row per shape (whole chunks as served before, sentences at several budgets), all on the same hits.
What it decided: evidence.md.
"""

import sys
from pathlib import Path

from knowledge.answer.prompt import PromptShape
from knowledge.core import Knowledge
from knowledge.evaluation.collection import eval_collection
from knowledge.evaluation.metrics import evaluate_evidence, load_items
from knowledge.settings import load_settings

qa, corpus = Path(sys.argv[1]), Path(sys.argv[2])
settings = load_settings()
shapes = {"chunks k=4 3×600/1500 (default)": PromptShape(settings.course_name, 4, 3, 600, 1500, "chunks"),
          # ceilings: every retrieved chunk whole, no budget
          "whole top-4 chunks (ceiling)": PromptShape(settings.course_name, 4, 4, 10**6, 10**6, "chunks"),
          "whole top-10 chunks (ceiling)": PromptShape(settings.course_name, 10, 10, 10**6, 10**6, "chunks")}
for k in (4, 10):
    for budget in (1500, 1200, 1000, 800):
        for sources in (3, 5):
            shapes[f"sentences k={k} {sources} src /{budget}"] = PromptShape(settings.course_name, k, sources, 600,
                                                                           budget, "sentences")
with Knowledge(settings) as kb:
    view = kb.with_collection(eval_collection(corpus, settings))
    result = evaluate_evidence(view.retriever, load_items(qa), shapes, view.generator.count_tokens)
keys = ["all_facts", "half_facts", "fact_recall", "gold_source", "tokens_p50", "tokens_p95", "sources_p50", "n"]
print(f"{'shape':<36} " + " ".join(f"{k:>11}" for k in keys))
for name, m in result.items():
    print(f"{name:<36} " + " ".join(f"{round(m[k], 3)!s:>11}" for k in keys))
