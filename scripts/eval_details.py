"""Re-score a `coursebot eval --details FILE` run, optionally with other abstention thresholds.

    .venv/bin/python scripts/eval_details.py DETAILS.jsonl --qa ../shared/eval/dev.jsonl [--support 0.3 0.45]

Generation is the slow part of an evaluation; this recomputes the answer metrics from the recorded
generations (raw answer, support, best-chunk similarity, attributed citations) for each support threshold,
so abstention can be calibrated without generating again. Prints one row per threshold.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from knowledge.abstention import Thresholds, decide
from knowledge.evaluation import AnswerRecord, answer_metrics, load_items
from knowledge.settings import Settings

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("details", type=Path)
parser.add_argument("--qa", type=Path, required=True, help="the QA set the run used")
parser.add_argument("--support", type=float, nargs="*", help="support thresholds to try (default: configured)")
parser.add_argument("--similarity", type=float, default=Settings.model_fields["abstain_min_similarity"].default)
args = parser.parse_args()

items = {i.id: i for i in load_items(args.qa)}
rows = [json.loads(line) for line in args.details.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line)["system"] == "pipeline"]
thresholds = args.support or [Settings.model_fields["abstain_min_support"].default]
keys = ["citation_precision", "citation_recall", "key_facts", "abstention", "false_abstention"]
print(f"{len(rows)} recorded answers; similarity threshold {args.similarity}")
print(f"{'support':>8} " + " ".join(f"{k:>18}" for k in keys))
for t in thresholds:
    records = []
    for r in rows:
        d = decide(r["raw_answer"], r["support"], r["top_similarity"], len(r["attributed"]) or 1,
                   Thresholds(t, args.similarity))
        records.append(AnswerRecord(items[r["id"]], "" if d.abstain else r["raw_answer"], d.abstain,
                                    [] if d.abstain else r["attributed"], r["ttft_ms"], r["total_ms"]))
    m = answer_metrics(records)
    print(f"{t:>8.2f} " + " ".join(f"{m[k]:>18}" for k in keys))
