"""Issue 25 §3, the quality side of continuing a conversation word for word: a follow-up's prompt then holds the
earlier turns' sources too. Does that change how the follow-up is answered? The QA items in pairs (A, B): A is
asked, then B as its follow-up, once continued (as served: A's prompt and answer, then B) and once with A's
question and answer alone (as before); B's outcomes are compared on the same items, with the uncached tokens and
TTFT. Between A and B another request (a short one) takes the live KV cache, as another student's question would:
the continued B then starts from the state A left (knowledge/answer/states.py).

    python docs/experiments/follow_ups.py QA.jsonl CORPUS

What it decided: latency-levers.md.
"""

import sys
from dataclasses import replace
from pathlib import Path

from knowledge.core import Knowledge
from knowledge.evaluation.collection import eval_collection
from knowledge.evaluation.metrics import AnswerRecord, load_items, percentile
from knowledge.evaluation.outcomes import outcome_report, outcomes_by_id, paired
from knowledge.settings import load_settings

qa, corpus = Path(sys.argv[1]), Path(sys.argv[2])
settings = load_settings(answer_cache_minutes=0)
items = load_items(qa)
pairs = list(zip(items[0::2], items[1::2], strict=False))
records: dict[str, list[AnswerRecord]] = {"continued": [], "compact": []}
uncached: dict[str, list[int]] = {"continued": [], "compact": []}
ttft: dict[str, list[float]] = {"continued": [], "compact": []}
continued = 0
with Knowledge(settings) as kb:
    view = kb.with_collection(eval_collection(corpus, settings))
    view.indexer.refresh(corpus)
    answerer = view.answerer
    for n, (a, b) in enumerate(pairs, start=1):
        first = answerer.answer(a.question)
        remembered = [] if first.abstained else [first.exchange]  # as the bot remembers it
        other = [{"role": "system", "content": answerer.system}, {"role": "user", "content": "Hola"}]
        view.generator.stream(other, 1, lambda piece: None)  # another request in between
        alone = [replace(e, answer=first.answer, prompt=()) for e in remembered]  # as the bot remembered it before
        histories = {"continued": remembered, "compact": alone}
        for name, history in histories.items():
            result = answerer.answer(b.question, history)
            records[name].append(AnswerRecord(b, result.answer, result.abstained, result.citations,
                                              result.timings.get("ttft_ms"), result.timings["total_ms"]))
            uncached[name].append(result.timings["prompt_tokens"] - result.timings["cached_tokens"])
            ttft[name].append(result.timings["ttft_ms"] or result.timings["total_ms"])
            if name == "continued":
                continued_now = bool(remembered) and \
                    result.exchange.prompt[:len(remembered[0].prompt)] == remembered[0].prompt
                continued += continued_now
        state = "continued" if remembered and records["continued"] and continued_now else \
            ("A declined" if not remembered else "did not fit")
        print(f"{n}/{len(pairs)} {b.id} ({state}): " + ", ".join(f"{k} {outcomes_by_id(v[-1:])[b.id]}"
                                                        for k, v in records.items()), flush=True)
print(f"\n{view.generator.name}, {len(pairs)} follow-ups, {continued} of them continued their previous prompt "
      f"(the others followed a declined answer, which is not remembered, or did not fit)")
for name, rs in records.items():
    report = outcome_report(rs)
    print(f"{name:<10} correct {report['correct']:.3f} missed {report['missed']:.3f} wrong {report['wrong']:.3f} "
          f"score {report['score']:+.3f}  uncached tokens p50 {percentile(uncached[name], 50):.0f}  "
          f"TTFT p50 {percentile(ttft[name], 50):.0f} ms")
print(paired(outcomes_by_id(records["compact"]), outcomes_by_id(records["continued"])).describe("compact", "continued"))
