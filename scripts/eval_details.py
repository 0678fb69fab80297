"""Re-score a `coursebot eval --details FILE` run, optionally with other abstention thresholds.

    .venv/bin/python scripts/eval_details.py DETAILS.jsonl --qa ../shared/eval/dev.jsonl [--support 0.3 0.45]

Generation is the slow part of an evaluation; this recomputes the answer metrics from the recorded
generations (raw answer, support, best-chunk similarity, attributed citations) for each support threshold,
so abstention can be calibrated without generating again. Prints one row per threshold.

    ... --diagnose --corpus ../shared/corpus/ia-aplicada

also rebuilds each answerable question's prompt sources (retrieval + budget, no generation; the corpus must be
indexed as `coursebot eval` left it) and says where each answer lost its key facts: not in the prompt
(retrieval/budget), in the prompt but not in the answer (generator), or declined although in the prompt.

    ... --vs OTHER_DETAILS.jsonl

pairs this run with another on the same QA set (e.g. one configuration change apart): the headline and the
component metrics of both as recorded, and how many items changed outcome each way (exact sign test).

    ... --rescore --corpus ../shared/corpus/ia-aplicada

rebuilds every question's sources the same way and passes the recorded raw answer through the pipeline's
current finishing step (`Answerer.finish`: attribution, the answer check, abstention, the answer shown), under
each answer check (`--checks overlap grounded`) and support threshold (`--support`), then scores each: the
headline (correct / missed / wrong, score) beside the component metrics, why each answer was declined, and every
combination paired item by item against the first — what a change to the check would have done to the run,
without generating again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from knowledge.answer.abstention import Thresholds, decide
from knowledge.evaluation.metrics import AnswerRecord, answer_metrics, load_items
from knowledge.settings import Settings

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("details", type=Path)
parser.add_argument("--qa", type=Path, required=True, help="the QA set the run used")
parser.add_argument("--support", type=float, nargs="*", help="support thresholds to try (default: configured)")
parser.add_argument("--similarity", type=float, default=Settings.model_fields["abstain_min_similarity"].default)
parser.add_argument("--vs", type=Path, help="another run's details on the same QA set, to pair with this one")
parser.add_argument("--diagnose", action="store_true", help="where the key facts were lost (needs --corpus)")
parser.add_argument("--rescore", action="store_true", help="re-finish the raw answers with the current code")
parser.add_argument("--corpus", type=Path, help="the corpus of the run (for --diagnose and --rescore)")
parser.add_argument("--checks", nargs="+", default=["overlap", "grounded"], choices=["overlap", "grounded"],
                    help="answer checks --rescore compares (the first, at the first threshold, is the baseline)")
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
                   Thresholds(t, args.similarity), cited=bool(r["attributed"]))
        records.append(AnswerRecord(items[r["id"]], "" if d.abstain else r["raw_answer"], d.abstain,
                                    [] if d.abstain else r["attributed"], r["ttft_ms"], r["total_ms"]))
    m = answer_metrics(records)
    print(f"{t:>8.2f} " + " ".join(f"{m[k]!s:>18}" for k in keys))  # None: no item of that kind

# -- this run against another, as recorded ------------------------------------------------------------------------
if args.vs:
    from knowledge.evaluation.outcomes import outcome_report, outcomes_by_id, paired

    def recorded(path: Path) -> list[AnswerRecord]:
        return [AnswerRecord(items[r["id"]], r["answer"], r["abstained"], r["citations"], r["ttft_ms"], r["total_ms"])
                for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())
                if r.get("system") == "pipeline"]

    a, b = f"A {args.details.name}", f"B {args.vs.name}"
    runs = {a: recorded(args.details), b: recorded(args.vs)}
    if [r.item.id for r in runs[a]] != [r.item.id for r in runs[b]]:
        parser.error(f"{args.details} and {args.vs} did not answer the same items")
    print(f"\n{'run':<32} {'correct':>7} {'missed':>6} {'wrong':>5} {'score':>6}  "
          + " ".join(f"{k:>18}" for k in keys + ["ttft_p50_ms", "total_p50_ms"]))
    for name, records in runs.items():
        o, m = outcome_report(records), answer_metrics(records)
        print(f"{name:<32} {o['correct']:>7} {o['missed']:>6} {o['wrong']:>5} {o['score']:>6}  "
              + " ".join(f"{m[k]!s:>18}" for k in keys + ["ttft_p50_ms", "total_p50_ms"]))
    print(paired(outcomes_by_id(runs[a]), outcomes_by_id(runs[b])).describe(a, b))

# -- the prompts again (retrieval + budget, no generation), for --diagnose and --rescore ------------------------
if args.diagnose or args.rescore:
    import time
    from collections import Counter

    from knowledge.answer.generation import Completion
    from knowledge.core import Knowledge
    from knowledge.evaluation.collection import eval_collection
    from knowledge.evaluation.metrics import citation_matches, key_fact_recall
    from knowledge.evaluation.outcomes import outcome_report, outcomes_by_id, paired
    from knowledge.settings import load_settings

    if args.corpus is None:
        parser.error("--diagnose and --rescore rebuild the prompts from the run's corpus: give --corpus")
    settings = load_settings()
    kb = Knowledge(settings).open()
    try:
        answerer = kb.with_collection(eval_collection(args.corpus, settings)).answerer

        # -- where were the key facts lost? ---------------------------------------------------------------------
        if args.diagnose:
            verdicts = Counter()
            print(f"\n{'item':<9} {'gold in prompt':>14} {'facts in prompt':>15} {'facts in answer':>15}  verdict")
            for r in rows:
                item = items[r["id"]]
                if not item.answerable or not item.must_include:
                    continue
                sources = answerer.retrieve(item.question).passages
                gold_in = any(citation_matches(s.hit.provenance(), g) for s in sources for g in item.gold)
                in_prompt = key_fact_recall("\n".join(s.text for s in sources), item.must_include)
                in_answer = key_fact_recall(r["answer"], item.must_include)
                if in_answer >= 0.5:
                    verdict = "ok"
                elif in_prompt < 0.5:
                    verdict = "retrieval/budget"  # the generator never saw the facts
                elif r["abstained"]:
                    verdict = f"declined ({r['reason']})"
                else:
                    verdict = "generator"
                verdicts[verdict.split(" ")[0]] += 1
                print(f"{item.id:<9} {str(gold_in):>14} {in_prompt:>15.2f} {in_answer:>15.2f}  {verdict}")
            print("\n" + ", ".join(f"{k}: {v}" for k, v in verdicts.most_common()))

        # -- the recorded answers through today's finishing step, under each answer check and support threshold ----
        if args.rescore:
            retrieved = {r["id"]: answerer.retrieve(items[r["id"]].question) for r in rows}
            configured = (settings.answer_check, settings.abstain_min_support)
            print(f"\n{'check':<9} {'support':>7} {'correct':>7} {'missed':>6} {'wrong':>5} {'score':>6}  "
                  + " ".join(f"{k:>18}" for k in keys) + "  changed  why")
            systems, as_configured = {}, None
            for check in args.checks:
                for t in thresholds:
                    answerer.settings.thresholds = Thresholds(t, args.similarity, check)
                    records, reasons, changed = [], Counter(), []
                    for r in rows:
                        item, found = items[r["id"]], retrieved[r["id"]]
                        completion = (Completion(r["raw_answer"], 0, 0, 0, r["ttft_ms"], 0.0) if found.passages
                                      else None)
                        result = answerer.finish(item.question, found, completion, time.perf_counter())
                        reasons[result.reason or "answered"] += 1
                        if (result.abstained, result.answer) != (r["abstained"], r["answer"]):
                            changed.append(f"{item.id:<9} {'declined' if r['abstained'] else 'answered':>8} -> "
                                           + (f"declined ({result.reason})" if result.abstained else "answered"))
                        records.append(AnswerRecord(item, result.answer, result.abstained, result.citations,
                                                    r["ttft_ms"], r["total_ms"]))
                    m, o = answer_metrics(records), outcome_report(records)
                    systems[(check, t)] = outcomes_by_id(records)
                    if (check, t) == configured:
                        as_configured = (changed, m)
                    print(f"{check:<9} {t:>7.2f} {o['correct']:>7} {o['missed']:>6} {o['wrong']:>5} {o['score']:>6}  "
                          + " ".join(f"{m[k]!s:>18}" for k in keys) + f"  {len(changed):>7}  "
                          + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
            base = (args.checks[0], thresholds[0])
            for (check, t), outcomes in systems.items():
                if (check, t) != base:
                    print(paired(systems[base], outcomes).describe(f"{base[0]}@{base[1]:.2f}", f"{check}@{t:.2f}"))
            if as_configured:  # what the pipeline as configured makes of the run: 0 changed when nothing changed
                changed, m = as_configured
                print("\n" + "\n".join(changed) if changed else "")
                print(f"re-finished as configured ({configured[0]}@{configured[1]:.2f}: "
                      f"{len(changed)} answers changed):")
                print(" ".join(f"{k}={m[k]}" for k in keys))
    finally:
        kb.close()
