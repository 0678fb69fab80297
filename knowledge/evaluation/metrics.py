"""Evaluation on a QA JSONL set (format: ../shared/eval/README.md): retrieval metrics as pure functions,
and a runner that scores hybrid, BM25-only and vector-only retrieval in the same run."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..retrieval import Hit, Retriever

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


def evaluate_evidence(retriever: Retriever, items: list[QAItem], shapes: dict, count_tokens: Callable[[str], int],
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """What reaches the prompt, per prompt shape (name -> `PromptShape`), over answerable items with key facts:
    the share whose key facts are all in the sources shown (`all_facts`) or at least half of them (`half_facts`,
    what a correct answer needs), the mean share (`fact_recall`), the share with a gold source among them
    (`gold_source`), and the sources' tokens (p50/p95, counted with the model's tokenizer). One retrieval per item
    serves every shape, so the shapes are compared on the same hits."""
    from ..answer.prompt import build_messages

    answerable = [i for i in items if i.answerable and i.must_include]
    k = max(shape.k for shape in shapes.values())
    rows: dict[str, list[tuple[float, bool, int, int]]] = {name: [] for name in shapes}
    for n, item in enumerate(answerable):
        hits = retriever.search(item.question, k=k)
        for name, shape in shapes.items():
            passages = shape.passages(hits[:shape.k], item.question)
            shown = build_messages("", passages, "")[1]["content"]  # "Fuentes:" and the numbered sources
            rows[name].append((key_fact_recall(shown, item.must_include),
                               any(matches(p.hit, g) for p in passages for g in item.gold),
                               count_tokens(shown), len(passages)))
        if progress:
            progress(n + 1, len(answerable))
    out = {}
    for name, r in rows.items():
        n = len(r)
        out[name] = {"all_facts": round(sum(1 for x in r if x[0] == 1.0) / n, 4) if n else None,
                     "half_facts": round(sum(1 for x in r if x[0] >= 0.5) / n, 4) if n else None,
                     "fact_recall": round(sum(x[0] for x in r) / n, 4) if n else None,
                     "gold_source": round(sum(1 for x in r if x[1]) / n, 4) if n else None,
                     "tokens_p50": percentile([x[2] for x in r], 50) if n else None,
                     "tokens_p95": percentile([x[2] for x in r], 95) if n else None,
                     "sources_p50": percentile([x[3] for x in r], 50) if n else None, "n": n}
    return out


# -- answers -----------------------------------------------------------------------------------------
@dataclass
class AnswerRecord:
    """What a system did with one item: its answer, citations (provenance dicts), abstention, timings."""

    item: QAItem
    answer: str
    abstained: bool
    citations: list[dict]
    ttft_ms: float | None
    total_ms: float
    details: dict = field(default_factory=dict)


def citation_matches(citation: dict, gold: dict) -> bool:
    """A cited source (file + page/pages/cell/cells...) matches a gold source as retrieval hits do."""
    for kind in ("page", "slide", "cell"):
        if kind in citation:
            start = end = citation[kind]
            break
        if kind + "s" in citation:
            start, end = citation[kind + "s"]
            break
    else:
        kind, start, end = "", 0, 0
    return matches({"file": citation["file"], "loc_kind": kind, "loc_start": start, "loc_end": end}, gold)


def key_fact_recall(answer: str, facts: list[str]) -> float:
    from ..text import fold

    if not facts:
        return 1.0
    text = fold(answer)
    return sum(1 for f in facts if fold(f) in text) / len(facts)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100), interpolating between ranks as numpy's default does: the one definition of
    "p50" and "p95" in the project (evaluation and benchmarks alike)."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_ms(values: list[float | None], q: float) -> float | None:
    """A latency percentile of the values measured (None where none were), in ms to one decimal."""
    measured = [v for v in values if v is not None]
    return round(percentile(measured, q), 1) if measured else None


def words_per_answer(answers: list[str]) -> float | None:
    """Mean words of the answers, [n] markers and source lists left out (how much a student reads)."""
    from ..answer.citations import strip_markers, without_source_lists

    counts = [len(strip_markers(without_source_lists(a)).split()) for a in answers]
    return round(sum(counts) / len(counts), 1) if counts else None


def answer_metrics(records: list[AnswerRecord]) -> dict:
    """Citation precision/recall, key facts, abstention and false abstention, words per answer given, latency
    percentiles."""
    answerable = [r for r in records if r.item.answerable]
    unanswerable = [r for r in records if not r.item.answerable]
    cited = [c for r in answerable for c in r.citations]
    good = sum(1 for r in answerable for c in r.citations if any(citation_matches(c, g) for g in r.item.gold))
    recalls = [sum(1 for g in r.item.gold if any(citation_matches(c, g) for c in r.citations)) / len(r.item.gold)
               for r in answerable if r.item.gold]

    def share(rows, pred):
        return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else None

    return {
        "citation_precision": round(good / len(cited), 4) if cited else 0.0,
        "citation_recall": round(sum(recalls) / len(recalls), 4) if recalls else 0.0,
        "key_facts": round(sum(key_fact_recall(r.answer, r.item.must_include) for r in answerable)
                           / len(answerable), 4) if answerable else 0.0,
        "abstention": share(unanswerable, lambda r: r.abstained and not r.citations),
        "false_abstention": share(answerable, lambda r: r.abstained),
        "words_per_answer": words_per_answer([r.answer for r in answerable if not r.abstained]),
        "ttft_p50_ms": latency_ms([r.ttft_ms for r in records], 50),
        "ttft_p95_ms": latency_ms([r.ttft_ms for r in records], 95),
        "total_p50_ms": latency_ms([r.total_ms for r in records], 50),
        "total_p95_ms": latency_ms([r.total_ms for r in records], 95),
        "n": len(records),
    }


def run_pipeline(answerer, items: list[QAItem], progress: Callable[[int, int], None] | None = None
                 ) -> list[AnswerRecord]:
    records = []
    for n, item in enumerate(items):
        result = answerer.answer(item.question)
        details = {"raw_answer": result.raw_answer, "support": result.support, "reason": result.reason,
                   "top_similarity": result.top_similarity, "attributed": [
                       {k: v for k, v in c.items() if k != "text"} for c in result.attributed],
                   "timings": result.timings}
        records.append(AnswerRecord(item, result.answer, result.abstained, result.citations,
                                    result.timings.get("ttft_ms"), result.timings["total_ms"], details))
        if progress:
            progress(n + 1, len(items))
    return records


def run_llamaindex_default(store, embedder, generator, items: list[QAItem],
                           progress: Callable[[int, int], None] | None = None,
                           max_tokens: int = 256) -> list[AnswerRecord]:
    """What the LlamaIndex tutorial builds: VectorStoreIndex(...).as_query_engine() over the same collection,
    same LLM and embedder, default prompt; its source nodes are taken as the citations. `max_tokens`: the answer
    budget, the pipeline's own in `coursebot eval` (the paired comparison differs in the pipeline, not the length
    either system may write)."""
    import time

    from llama_index.core import VectorStoreIndex

    from ..answer.abstention import model_declined
    from .llamaindex_baseline import GeneratorLLM

    index = VectorStoreIndex.from_vector_store(store.vector_store(), embed_model=embedder)
    engine = index.as_query_engine(llm=GeneratorLLM(generator=generator, max_tokens=max_tokens), streaming=True)
    records = []
    for n, item in enumerate(items):
        start = time.perf_counter()
        response = engine.query(item.question)
        ttft, pieces = None, []
        for piece in response.response_gen:
            if ttft is None:
                ttft = (time.perf_counter() - start) * 1000
            pieces.append(piece)
        answer = "".join(pieces)
        citations = []
        for sn in response.source_nodes:
            m = sn.node.metadata
            kind, a, b = m.get("loc_kind"), m.get("loc_start", 0), m.get("loc_end", 0)
            c = {"file": m.get("file", ""), "title": m.get("title", "")}
            if kind:
                c.update({kind: a} if a == b else {kind + "s": [a, b]})
            citations.append(c)
        records.append(AnswerRecord(item, answer, model_declined(answer), citations, ttft,
                                    (time.perf_counter() - start) * 1000, {"raw_answer": answer}))
        if progress:
            progress(n + 1, len(items))
    return records
