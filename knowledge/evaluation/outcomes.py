"""The headline: one outcome per question, and the score every comparison is judged by (pure functions).

Per question, exactly one of
- correct: answerable — not declined, at least half of its key facts, and at least one citation matching a gold
  source (any citation, for an item with no gold listed); unanswerable — declined, citing nothing;
- missed: answerable and declined (no harm, no help);
- wrong: anything answered that is not correct (an invented fact, a wrong citation, too few of the facts, an
  unanswerable question answered).
score = share correct − share wrong (as CRAG scores: a wrong answer costs more than a missed one), in [−1, 1].

Two systems on the same items are compared item by item (`paired`): how many questions changed outcome each way,
and the exact two-sided sign test (McNemar's exact test) on the items whose value (+1 correct, 0 missed,
−1 wrong) differs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from math import comb
from pathlib import Path

from .metrics import AnswerRecord, citation_matches, key_fact_recall

CORRECT, MISSED, WRONG = "correct", "missed", "wrong"
VALUE = {CORRECT: 1, MISSED: 0, WRONG: -1}
MIN_KEY_FACTS = 0.5  # share of an item's key facts a correct answer holds


def outcome(record: AnswerRecord) -> str:
    """correct, missed or wrong (see the module's docstring)."""
    item = record.item
    if not item.answerable:
        return CORRECT if record.abstained and not record.citations else WRONG
    if record.abstained:
        return MISSED
    enough_facts = key_fact_recall(record.answer, item.must_include) >= MIN_KEY_FACTS
    if item.gold:
        cites_gold = any(citation_matches(c, g) for c in record.citations for g in item.gold)
    else:
        cites_gold = bool(record.citations)
    return CORRECT if enough_facts and cites_gold else WRONG


def summarize(outcomes: Iterable[str]) -> dict:
    """{"correct", "missed", "wrong"} as shares (4 decimals), "score", and "n"."""
    counts = Counter(outcomes)
    n = sum(counts.values())
    if n == 0:
        return {CORRECT: None, MISSED: None, WRONG: None, "score": None, "n": 0}
    shares = {k: round(counts[k] / n, 4) for k in (CORRECT, MISSED, WRONG)}
    return {**shares, "score": round((counts[CORRECT] - counts[WRONG]) / n, 4), "n": n}


def outcome_report(records: list[AnswerRecord]) -> dict:
    """The headline of one system on a set: its summary, and the same per question type."""
    kinds = [(r.item.type or "untyped", outcome(r)) for r in records]
    by_type = {t: summarize(o for kind, o in kinds if kind == t) for t in sorted({k for k, _ in kinds})}
    return {**summarize(o for _, o in kinds), "by_type": by_type}


@dataclass(frozen=True)
class Paired:
    """System B against system A on the same items."""

    n: int
    better: int  # items whose outcome value is higher with B
    worse: int
    changes: dict[str, int]  # "correct→wrong": count, for the items whose outcome changed
    p_value: float  # exact two-sided sign test on the better/worse items (1.0 when none differ)

    def describe(self, a: str, b: str) -> str:
        moves = ", ".join(f"{k} {v}" for k, v in sorted(self.changes.items())) or "none"
        return (f"{b} vs {a} on the same {self.n} items: {self.better} better, {self.worse} worse "
                f"(exact sign test p = {self.p_value:.3g}); changes: {moves}")


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact binomial test of better vs worse at p = 1/2 (McNemar's exact test)."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(better, worse) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired(a: dict[str, str], b: dict[str, str]) -> Paired:
    """Compare outcomes keyed by item id; only the ids both systems answered count."""
    ids = [i for i in a if i in b]
    better = sum(1 for i in ids if VALUE[b[i]] > VALUE[a[i]])
    worse = sum(1 for i in ids if VALUE[b[i]] < VALUE[a[i]])
    changes = Counter(f"{a[i]}→{b[i]}" for i in ids if a[i] != b[i])
    return Paired(len(ids), better, worse, dict(changes), sign_test(better, worse))


def outcomes_by_id(records: list[AnswerRecord]) -> dict[str, str]:
    return {r.item.id: outcome(r) for r in records}


def write_details(path: Path, system: str, records: list[AnswerRecord]) -> None:
    """Per-item records (JSONL), each with its outcome, for error analysis and threshold calibration."""
    with path.open("a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"system": system, "id": r.item.id, "question": r.item.question,
                                "answerable": r.item.answerable, "gold": r.item.gold, "answer": r.answer,
                                "abstained": r.abstained, "citations": r.citations, "outcome": outcome(r),
                                "ttft_ms": r.ttft_ms,
                                "total_ms": r.total_ms, **r.details}, ensure_ascii=False) + "\n")
