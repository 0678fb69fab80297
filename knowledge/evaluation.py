"""Evaluation on a QA JSONL set (format: ../shared/eval/README.md): retrieval metrics as pure functions,
and a runner that scores hybrid, BM25-only and vector-only retrieval in the same run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .retrieval import Hit, Retriever

KS = (1, 3, 5, 10)
MODES = {"hybrid": None, "bm25": 0.0, "vector": 1.0}  # mode -> alpha (None = configured)


@dataclass
class QAItem:
    id: str
    question: str
    answerable: bool
    gold: list[dict] = field(default_factory=list)
    must_include: list[str] = field(default_factory=list)
    answer: str = ""
    type: str = ""


def load_items(path: Path) -> list[QAItem]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            items.append(QAItem(raw["id"], raw["question"], bool(raw.get("answerable", True)),
                                raw.get("gold") or [], raw.get("must_include") or [], raw.get("answer", ""),
                                raw.get("type", "")))
        except (ValueError, KeyError) as e:
            raise ValueError(f"{path}:{n}: not a QA item ({e})") from e
    return items


def items_digest(items: Iterable[QAItem]) -> set[str]:
    """Normalized question hashes, to prove that no evaluation item leaks into training data."""
    return {hashlib.sha256(" ".join(i.question.lower().split()).encode()).hexdigest() for i in items}


# -- matching and metrics (pure) ---------------------------------------------------------------------
def matches(hit: Hit | dict, gold: dict) -> bool:
    """A chunk matches a gold source when the file matches and its page/cell range covers the gold's."""
    h = hit if isinstance(hit, dict) else {"file": hit.file, "loc_kind": hit.loc_kind,
                                           "loc_start": hit.loc_start, "loc_end": hit.loc_end}
    if h["file"] != gold["file"]:
        return False
    for kind in ("page", "cell", "slide"):
        if kind in gold:
            return h["loc_kind"] == kind and h["loc_start"] <= gold[kind] <= h["loc_end"]
    return True  # gold names only the file


def first_relevant_rank(hits: list[Hit], gold: list[dict]) -> int | None:
    """1-based rank of the first hit matching any gold source, or None."""
    for rank, hit in enumerate(hits, start=1):
        if any(matches(hit, g) for g in gold):
            return rank
    return None


def retrieval_metrics(ranks: list[int | None]) -> dict:
    n = len(ranks)
    out = {f"hit_at_{k}": round(sum(1 for r in ranks if r and r <= k) / n, 4) if n else 0.0 for k in KS}
    out["mrr"] = round(sum(1 / r for r in ranks if r) / n, 4) if n else 0.0
    out["n"] = n
    return out


# -- runner ------------------------------------------------------------------------------------------
def evaluate_retrieval(retriever: Retriever, items: list[QAItem],
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """hit@1/3/5/10 and MRR over answerable items, for hybrid, BM25-only and vector-only retrieval."""
    answerable = [i for i in items if i.answerable and i.gold]
    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    for n, item in enumerate(answerable):
        for mode, alpha in MODES.items():
            hits = retriever.search(item.question, k=max(KS), alpha=alpha)
            ranks[mode].append(first_relevant_rank(hits, item.gold))
        if progress:
            progress(n + 1, len(answerable))
    return {mode: retrieval_metrics(r) for mode, r in ranks.items()}
