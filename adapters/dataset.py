"""Stage 1 — training data from the indexed course, RAFT-style, in exactly the chat format the pipeline serves.

For each chunk, `adapters.questions` proposes questions whose answer the chunk holds. The sources for a
question are what the retriever returns for it (realistic distractors), with the gold chunk put at a random
place among them; the prompt is made by `knowledge.answer.prompt` (same system prompt, same numbering, same
trimming), and the answer copies the chunk's sentences with the gold's number, [n]. A share of questions is
shown *without* any chunk holding the answer, and questions the course never covers are added, as are near
misses — questions that look answerable from the sources retrieved for them (a field term the course never
names, who made or when a term it defines) and are not, and questions about how the course runs that its
materials never answer (office hours, a make-up exam): the answer to all of them is the pipeline's refusal,
citing nothing (https://arxiv.org/abs/2403.10131 for the recipe). Beside the near misses stand their
counterparts: the same forms of question about terms the course does define or name, answered from the chunk
that defines or names them.

Chunks are split into training and held-out by a hash of their id, so no held-out chunk (nor a question
about it) is trained on. Evaluation questions (../shared/eval) are dropped, and the written files are
checked against them with `items_digest`.

Artifacts (the folder is the contract with `adapters.train` and `adapters.gate`):
  train.jsonl          {"id", "kind", "type", "question", "messages", "gold_source", "gold", "chunk"} per line
  val.jsonl            the same, from held-out chunks: validation loss only
  heldout.jsonl        QA items in the evaluation format (../shared/eval/README.md) for the gate
  dataset_config.json  resolved config, prompt shape, collection, counts, file hashes, the leak check
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from knowledge.answer.citations import strip_markers
from knowledge.answer.prompt import DECLINE_SENTENCE, PromptShape
from knowledge.evaluation.metrics import QAItem, items_digest, load_items, matches
from knowledge.retrieval import Hit
from knowledge.text import content_words, fold, overlap, split_sentences

from .artifacts import DATASET_CONFIG, HELDOUT, TRAIN, VAL, sha256_file, write_json, write_jsonl
from .chunks import Candidate
from .config import DatasetConfig, as_dict
from .course_topics import OFFTOPIC, course_questions
from .errors import EvalLeak
from .examples import ENGLISH_LEAD, answer_example, answers_it, decline_example, gold_ref, record
from .near_misses import (
    FIELD_TERMS,
    absent_term_question,
    defined_terms,
    named_term_question,
    names,
    origin_question,
    origin_term,
    present_term_questions,
    read_field_terms,
    says_origin,
)
from .questions import candidates, informal

EXTRA_HITS = 3  # retrieved beyond answer_k, so that removing the gold still leaves enough distractors

Search = Callable[[str], list[Hit]]


# -- the held-out split and the evaluation guard ----------------------------------------------------
def as_typed(question: str, cfg: DatasetConfig, rng: random.Random) -> str:
    """The question as a student might type it (`informal`), for `cfg.informal_share` of the questions."""
    return informal(question, rng) if rng.random() < cfg.informal_share else question


def is_heldout(key: str, share: float, seed: int) -> bool:
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) / 0x1_0000_0000 < share


def digests(questions: Iterable[str]) -> set[str]:
    return items_digest(QAItem("", q, True) for q in questions)


class EvalGuard:
    """Evaluation questions that must never be trained on: exact (items_digest) and near duplicates."""

    def __init__(self, paths: list[Path]):
        self.items = [item for p in paths for item in load_items(p)]
        self.digests = items_digest(self.items)
        self.words = [content_words(i.question) for i in self.items]

    def blocks(self, *questions: str) -> bool:
        """Any of the questions (a student's wording and the one it came from) is an evaluation question."""
        return any(self._blocks(q) for q in questions)

    def _blocks(self, question: str) -> bool:
        if digests([question]) & self.digests:
            return True
        words = content_words(question)
        return any(words and len(words & w) / len(words | w) >= 0.9 for w in self.words)


def heldout_item(question: str, cand: Candidate, gold: Hit | None, n: int) -> dict:
    answerable = gold is not None
    return {"id": f"heldout-{n:04d}", "question": question, "answerable": answerable,
            "answer": " ".join(cand.sentences) if answerable else "", "must_include": list(cand.facts),
            "gold": [gold_ref(gold)] if gold else [], "type": cand.kind, "week": gold.week if gold else None}


# -- the whole dataset ---------------------------------------------------------------------------------
@dataclass
class Collected:
    """Examples (train / val) and held-out evaluation items as the dataset stage gathers them."""

    train: list[dict] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)
    heldout: list[dict] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)

    def add(self, example: dict | None, held: bool) -> None:
        if example is None:
            self.stats["skipped_no_room"] += 1
            return
        (self.val if held else self.train).append(example)

    def hold(self, question: str, cand: Candidate, gold: Hit | None) -> None:
        self.heldout.append(heldout_item(question, cand, gold, len(self.heldout)))


def build(chunks: list[Hit], search: Search, cfg: DatasetConfig, shape: PromptShape) -> dict:
    """Examples and held-out items from the course's chunks; `search` is the pipeline's retriever (or a fake).

    One random stream makes the course's own questions, the off-topic refusals and the order; the near misses,
    course misses and counterparts come from streams of their own and are slotted in after the shuffle, so
    adding them leaves the rest of the dataset (and the writer's cached answers for it) as it was."""
    rng = random.Random(cfg.seed)
    guard = EvalGuard([Path(p) for p in cfg.forbid_eval.split(",") if p and Path(p).is_file()])
    got = Collected()
    chunk_questions(got, chunks, search, cfg, shape, guard, rng)
    offtopic_refusals(got, search, cfg, shape, guard, rng)
    for path in (Path(p) for p in cfg.admin_pairs.split(",") if p):
        for item in load_items(path):
            if guard.blocks(item.question):
                got.stats["dropped_eval_overlap"] += 1
                continue
            got.add(admin_example(item, chunks, search(item.question), shape), False)

    near = near_misses(chunks, search, cfg, shape, guard, got.stats) + course_misses(chunks, search, cfg, shape,
                                                                                     guard, got.stats)
    for example in (e for e, held in near if held):
        got.hold(example["question"], Candidate(example["question"], (), (), example["type"]), None)
    taken = {fold(e["question"]) for e in got.train + got.val + [e for e, _ in near]}
    pairs = counterparts(chunks, search, cfg, shape, guard, got.stats, taken)
    for example, held, cand, chunk in pairs:
        if held:
            got.hold(example["question"], cand, chunk)

    held_questions = digests(i["question"] for i in got.heldout)
    kept = [e for e in got.train if not digests([e["question"]]) & held_questions]
    got.stats["dropped_heldout_overlap"] += len(got.train) - len(kept)
    rng.shuffle(kept)
    slot = random.Random(f"{cfg.seed}:slots")
    for example, held in near:
        if not held and digests([example["question"]]) & held_questions:
            got.stats["dropped_heldout_overlap"] += 1
            continue
        rows = got.val if held else kept
        rows.insert(slot.randrange(len(rows) + 1), example)
    slot = random.Random(f"{cfg.seed}:counterpart-slots")
    for rows, held_out in ((kept, False), (got.val, True)):
        beside(rows, [e for e, held, _, _ in pairs if held == held_out], slot)
    train = kept[: cfg.max_examples] if cfg.max_examples else kept
    verify_no_leak(train + got.val, guard)
    return {"train": train, "val": got.val, "heldout": got.heldout, "stats": got.stats,
            "guard": {"eval_items": len(guard.items), "overlap": 0}}


def chunk_questions(got: Collected, chunks: list[Hit], search: Search, cfg: DatasetConfig, shape: PromptShape,
                    guard: EvalGuard, rng: random.Random) -> None:
    """Up to `questions_per_chunk` questions per chunk, answered from it among distractors or (a
    `decline_share` of them) shown without it and declined; a held-out chunk's go to validation and the gate."""
    for chunk in chunks:
        if len(chunk.text) < cfg.min_chunk_chars:
            continue
        held = is_heldout(chunk.node_id, cfg.heldout_share, cfg.seed)
        for cand in candidates(chunk, rng, cfg.questions_per_chunk):
            english = bool(cand.question_en) and rng.random() < cfg.english_share
            if english:
                question = cand.question_en
            else:
                question = as_typed(cand.question, cfg, rng)
            if guard.blocks(question, cand.question):
                got.stats["dropped_eval_overlap"] += 1
                continue
            hits = search(question)
            if rng.random() < cfg.decline_share:
                could_answer = answers_it(cand, chunk, cfg.decline_overlap)
                got.add(decline_example(question, cand.kind, hits, shape, could_answer), held)
            else:
                got.add(answer_example(question, cand, chunk, hits, shape, rng.randrange(shape.max_sources),
                                       ENGLISH_LEAD if english else ""), held)
            if held:
                got.hold(question, cand, chunk)


def offtopic_refusals(got: Collected, search: Search, cfg: DatasetConfig, shape: PromptShape, guard: EvalGuard,
                      rng: random.Random) -> None:
    """`offtopic` questions no course of this kind covers, declined (dropped when the course covers them after
    all, or an evaluation set asks them)."""
    for question in rng.sample(OFFTOPIC, min(cfg.offtopic, len(OFFTOPIC))):
        hits = search(question)
        asked = content_words(question)
        if guard.blocks(question) or any(overlap(asked, content_words(h.text)) >= 0.5 for h in hits):
            got.stats["dropped_offtopic"] += 1
            continue
        held = is_heldout(question, cfg.heldout_share, cfg.seed)
        got.add(decline_example(question, "offtopic", hits, shape), held)
        if held:
            got.hold(question, Candidate(question, (), (), "offtopic"), None)


def field_terms(cfg: DatasetConfig) -> tuple[tuple[str, str], ...]:
    """(term, stem) pairs the near misses and their counterparts ask about: the configured file, or FIELD_TERMS."""
    return read_field_terms(Path(cfg.field_terms)) if cfg.field_terms else FIELD_TERMS


def near_misses(chunks: list[Hit], search: Search, cfg: DatasetConfig, shape: PromptShape, guard: EvalGuard,
                stats: Counter) -> list[tuple[dict, bool]]:
    """(refusal example, held out) for `cfg.near_misses` questions about the course's neighbourhood that its
    sources do not answer: field terms the whole course never names, and who made or when a term it defines
    (kept only when no source shown says who or when). Alternating, each question once."""
    corpus = fold("\n".join(c.text for c in chunks))
    absent = [term for term, stem in field_terms(cfg) if not names(corpus, stem)]
    defined = [t for c in chunks for t in defined_terms(c) if origin_term(t)]
    if not chunks or not (absent or defined):
        return []
    rng = random.Random(f"{cfg.seed}:near")
    out, asked = [], set()
    for i in range(cfg.near_misses * 3):  # bounded: a course may offer fewer than asked for
        if len(out) >= cfg.near_misses:
            break
        if (i % 2 == 0 and absent) or not defined:
            cand, origin = absent_term_question(rng.choice(absent), rng.choice(chunks), rng), False
        else:
            cand, origin = origin_question(rng.choice(defined), rng), True
        question = as_typed(cand.question, cfg, rng)
        if fold(question) in asked or guard.blocks(question, cand.question):
            continue
        asked.add(fold(question))
        sources = shape.passages(search(question), question)
        if not sources or (origin and any(says_origin(s.text) for s in sources)):
            stats["dropped_near_miss"] += 1  # the pipeline declines without the model, or a source may answer
            continue
        example = record(question, "decline", "near_miss", shape, sources, DECLINE_SENTENCE, None, None)
        out.append((example, is_heldout(question, cfg.heldout_share, cfg.seed)))
    return out


def course_misses(chunks: list[Hit], search: Search, cfg: DatasetConfig, shape: PromptShape, guard: EvalGuard,
                  stats: Counter) -> list[tuple[dict, bool]]:
    """(refusal example, held out) for `cfg.course_misses` questions about how the course runs (office hours, a
    make-up exam…) on topics its materials never name, shown with the course's chunks retrieval finds for them
    (none naming the topic). Own random stream; each question once."""
    asked = course_questions(fold("\n".join(c.text for c in chunks)))
    rng = random.Random(f"{cfg.seed}:course")
    out = []
    for question, stems in rng.sample(asked, len(asked)):
        if len(out) >= cfg.course_misses:
            break
        typed = as_typed(question, cfg, rng)
        if guard.blocks(typed, question):
            stats["dropped_eval_overlap"] += 1
            continue
        sources = shape.passages(search(typed), typed)
        if not sources or any(names(text, stem) for text in (fold(s.text) for s in sources) for stem in stems):
            stats["dropped_course_miss"] += 1
            continue
        example = record(typed, "decline", "course_miss", shape, sources, DECLINE_SENTENCE, None, None)
        out.append((example, is_heldout(question, cfg.heldout_share, cfg.seed)))
    return out


def beside(rows: list[dict], examples: list[dict], slot: random.Random) -> None:
    """Each example right after a near miss, in order (so a write limit or `max_examples` keeps them in proportion);
    those left over at random places."""
    misses = [i for i, e in enumerate(rows) if e["type"] == "near_miss"][:len(examples)]
    for at, example in reversed(list(zip(misses, examples, strict=False))):
        rows.insert(at + 1, example)
    for example in examples[len(misses):]:
        rows.insert(slot.randrange(len(rows) + 1), example)


def counterparts(chunks: list[Hit], search: Search, cfg: DatasetConfig, shape: PromptShape, guard: EvalGuard,
                 stats: Counter, taken: set[str]) -> list[tuple[dict, bool, Candidate, Hit]]:
    """(answer example, held out, candidate, gold) for `cfg.near_miss_counterparts` questions in the near misses'
    forms about terms the course defines or field terms it names, answered from the chunk that defines or names
    them, placed among what retrieval returns for the question.
    No question already `taken` (folded), none an evaluation set asks; held-out chunks give held-out items."""
    rng = random.Random(f"{cfg.seed}:counterparts")
    usable = [c for c in chunks if len(c.text) >= cfg.min_chunk_chars]
    pool = [(chunk, cand) for chunk in usable for cand in present_term_questions(chunk, rng)]
    folded = [fold(c.text) for c in usable]
    for term, stem in field_terms(cfg):  # the near misses' terms the course does name, asked of where it names them
        naming = [c for c, text in zip(usable, folded, strict=True) if names(text, stem)]
        for chunk in rng.sample(naming, min(3, len(naming))):
            if cand := named_term_question(term, stem, chunk, rng):
                pool.append((chunk, cand))
    rng.shuffle(pool)
    out = []
    for chunk, cand in pool:
        if len(out) >= cfg.near_miss_counterparts:
            break
        question = as_typed(cand.question, cfg, rng)
        if fold(question) in taken or guard.blocks(question, cand.question):
            continue
        taken.add(fold(question))
        example = answer_example(question, cand, chunk, search(question), shape, rng.randrange(shape.max_sources))
        if example is None:
            stats["skipped_no_room"] += 1
            continue
        out.append((example, is_heldout(chunk.node_id, cfg.heldout_share, cfg.seed), cand, chunk))
    return out


def admin_example(item: QAItem, chunks: list[Hit], hits: list[Hit], shape: PromptShape) -> dict | None:
    """A hand-written pair (evaluation JSONL format): answerable ones cite the chunk matching their gold."""
    if not item.answerable or not item.gold:
        return decline_example(item.question, "admin", hits, shape)
    golds = [c for c in chunks if any(matches(c, g) for g in item.gold)]
    if not golds:
        return None
    words = content_words(item.answer)
    gold = max(golds, key=lambda c: overlap(words, content_words(c.text)))
    sentences = tuple(split_sentences(strip_markers(item.answer)))
    return answer_example(item.question, Candidate(item.question, sentences, (), "admin"), gold, hits, shape, 0)


def verify_no_leak(examples: list[dict], guard: EvalGuard) -> None:
    """The written examples share no question with the evaluation sets (exact match after normalization)."""
    leaked = digests(e["question"] for e in examples) & guard.digests
    if leaked:
        raise EvalLeak(f"{len(leaked)} evaluation question(s) would enter the training data")


# -- I/O: the course's chunks, the folder ------------------------------------------------------------
def course_chunks(store) -> list[Hit]:
    """Every chunk of the collection as a `Hit`, in file order."""
    props = ["file", "title", "section", "loc_kind", "loc_start", "loc_end", "week", "text", "chunk_index"]
    rows = [(o.properties, str(o.uuid)) for o in store.collection.iterator(return_properties=props)]
    rows.sort(key=lambda r: (r[0]["file"], r[0].get("chunk_index") or 0))
    return [Hit(uid, p["file"], p.get("title") or "", p.get("section") or "", p.get("loc_kind") or "",
                int(p.get("loc_start") or 0), int(p.get("loc_end") or 0), int(p.get("week") or 0), 0.0,
                p.get("text") or "") for p, uid in rows]


def write_dataset(result: dict, out_dir: Path, cfg: DatasetConfig, shape: PromptShape, source: dict) -> dict:
    """The three files and the resolved config beside them; returns the config written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(out_dir / TRAIN, result["train"])
    write_jsonl(out_dir / VAL, result["val"])
    write_jsonl(out_dir / HELDOUT, result["heldout"])
    count = Counter(f"{e['kind']}/{e['type']}" for e in result["train"])
    summary = {
        "config": as_dict(cfg), "prompt": asdict(shape), "source": source,
        "counts": {"train": len(result["train"]), "val": len(result["val"]), "heldout": len(result["heldout"]),
                   "train_by_kind": dict(sorted(count.items())), **dict(result["stats"])},
        "leak_check": {"files": [p for p in cfg.forbid_eval.split(",") if p and Path(p).is_file()],
                       **result["guard"]},
        "sha256": {name: sha256_file(out_dir / name) for name in (TRAIN, VAL, HELDOUT)},
    }
    write_json(out_dir / DATASET_CONFIG, summary)
    return summary


def make_dataset(kb, cfg: DatasetConfig, shape: PromptShape, out_dir: Path, course_dir: Path | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Index the course if a folder is given (its own collection), then build and write the dataset."""
    if course_dir is not None:
        kb.indexer.refresh(course_dir, progress)
    chunks = course_chunks(kb.store)
    result = build(chunks, lambda q: kb.retriever.search(q, k=shape.k + EXTRA_HITS), cfg, shape)
    source = {"collection": kb.collection_name, "course_dir": str(course_dir.resolve()) if course_dir else "",
              "chunks": len(chunks), "index_checksum": kb.store.checksum()}
    return write_dataset(result, out_dir, cfg, shape, source)


def course_view(kb, course_dir: Path):
    """The course folder's own collection (the name `coursebot eval` gives it, so the index is shared)."""
    from knowledge.evaluation.collection import eval_collection

    return kb.with_collection(eval_collection(course_dir, kb.settings))
