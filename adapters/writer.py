"""Stage 1b (optional) — a stronger model writes the training answers; the pipeline's own checks keep the good ones.

The dataset's answers are the gold chunk's sentences copied with their number: correct, but a model trained on
them answers in one copied sentence. Here a writer model (e.g. the 1.5B for a 0.5B run) answers each training
prompt exactly as the bot would ask it, and an answer is kept only when

  - it is an answer (not a refusal, not cut off by the token limit, in the question's language),
  - it holds most of the template answer's content words (the facts the gold chunk gives),
  - every sentence rests on a source it cites, or on the gold when it cites nothing (the gold's number is
    then added, as `knowledge.answer.citations` would attribute it; a sentence citing a source that does not hold it
    is credited to the one that does, figures included), and the gold is cited. With `write_trim`,
    sentences resting on nothing (the writer's own knowledge, a wrong number) are dropped instead.

Refusal examples pass through unchanged. Answers the writer got wrong are dropped (or kept as templates with
`write_keep_templates`). Every raw answer is appended to answers.jsonl as it is written, so an interrupted
run resumes where it stopped and changed checks re-judge without asking again (rejection sampling: https://arxiv.org/abs/2308.01825).

Reads   DATASET/  train.jsonl, val.jsonl, heldout.jsonl, dataset_config.json
Writes  WRITTEN/  the same four files (train and val with written answers) and answers.jsonl
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from knowledge.answer.abstention import model_declined
from knowledge.answer.citations import (
    MIN_ATTRIBUTION,
    best_source,
    cited_numbers,
    parse_markers,
    strip_markers,
    without_source_lists,
)
from knowledge.text import content_words, detect_language, overlap, split_sentences

from .artifacts import (
    ANSWERS,
    DATASET_CONFIG,
    HELDOUT,
    TRAIN,
    VAL,
    read_json,
    read_jsonl,
    sha256_file,
    write_json,
    write_jsonl,
)
from .config import WriteConfig, as_dict
from .errors import ArtifactMissing, ConfigError
from .examples import cite

_SOURCE = re.compile(r"^\[(\d+)\] [^\n]*\n(.*?)(?=\n\n\[\d+\] |\n\nConversación previa:|\n\nPregunta: |\Z)",
                     re.MULTILINE | re.DOTALL)

Write = Callable[[list[dict]], tuple[str, bool]]  # prompt messages → (answer, cut off by the token limit)


# -- one answer (pure) ------------------------------------------------------------------------------------
def prompt_sources(example: dict) -> list[str]:
    """The numbered sources' texts, as the prompt shows them (index 0 is source [1])."""
    user = next(m["content"] for m in example["messages"] if m["role"] == "user")
    return [m.group(2).strip() for m in _SOURCE.finditer(user)]


def judge(raw: str, example: dict, min_keep: float, trim: bool = False) -> tuple[str | None, str]:
    """(the answer to train on, or None; the verdict: 'kept', 'gold_added', 'trimmed' or why it was rejected).
    With `trim`, sentences no source supports are dropped (the rest must still hold the facts)."""
    sources = prompt_sources(example)
    gold = example["gold_source"]
    text = without_source_lists(raw).strip()
    if not text or model_declined(text):
        return None, "declined"
    if detect_language(text) != detect_language(example["question"]):
        return None, "language"
    if any(n < 1 or n > len(sources) for n in cited_numbers(text)):
        return None, "cites_missing_source"
    template = content_words(strip_markers(example["messages"][-1]["content"]))
    if overlap(template, content_words(strip_markers(text))) < min_keep:
        return None, "misses_facts"
    words = [content_words(s) for s in sources]
    out, added, renumbered, dropped = [], False, False, 0
    for sentence in split_sentences(text):
        cited, bare = parse_markers(sentence, len(sources)), strip_markers(sentence)
        said = content_words(bare)
        if not said:  # "[1], [2]" on a line of its own, or a bare "Sí.": markers only where there are words
            if bare.strip(" .,;:"):
                out.append(bare)
            continue
        supported = bool(cited) and overlap(said, set().union(*(words[n - 1] for n in cited))) >= MIN_ATTRIBUTION
        if not cited and overlap(said, words[gold - 1]) >= MIN_ATTRIBUTION and len(said & words[gold - 1]) >= 2:
            sentence, added, supported = cite(bare, gold), True, True
        elif cited and not supported:
            best = best_source(said, words)  # a guessed number: the source that holds the sentence, as the
            if best and {w for w in said if w.isdigit()} <= words[best - 1]:  # pipeline credits it (figures too)
                sentence, renumbered, supported = cite(bare, best), True, True
        if not supported:
            if not trim:
                return None, "unsupported_sentence"
            dropped += 1
            continue
        out.append(sentence)
    answer = " ".join(out)
    if dropped and overlap(template, content_words(strip_markers(answer))) < min_keep:
        return None, "misses_facts"
    if gold not in parse_markers(answer, len(sources)):
        return None, "gold_not_cited"
    return answer, ("trimmed" if dropped else "renumbered" if renumbered else "gold_added" if added
                    else "kept")


def with_answer(example: dict, answer: str) -> dict:
    return {**example, "messages": [*example["messages"][:-1], {"role": "assistant", "content": answer}],
            "writer": True}


# -- the stage (I/O) --------------------------------------------------------------------------------------
def prompt_key(messages: list[dict]) -> str:
    """What an answer in the log was written for: the prompt's hash (a rebuilt dataset may reuse example ids)."""
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def load_cache(path: Path, writer: str) -> dict[str, dict]:
    """The log's answers by this writer, by prompt hash (rows from before prompts were hashed: by example id)."""
    if not path.is_file():
        return {}
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # the half line a killed run left behind: that answer is written again
    return {r.get("prompt") or r["id"]: r for r in rows if r.get("writer") == writer}


def end_line(path: Path) -> None:
    """After a killed run's half line, the next answer starts a line of its own."""
    if path.is_file() and path.stat().st_size:
        with path.open("rb+") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                f.write(b"\n")


def rewrite(examples: list[dict], limit: int, write: Write, cfg: WriteConfig, cache: dict[str, dict],
            log, deadline: float, stats: Counter) -> list[dict]:
    """The examples up to the `limit`-th answer (declines pass through), answers rewritten where accepted."""
    out, attempted = [], 0
    for example in examples:
        if example["kind"] != "answer":
            out.append(example)
            continue
        if attempted >= limit or time.monotonic() > deadline:
            break
        attempted += 1
        messages = [m for m in example["messages"] if m["role"] != "assistant"]
        key = prompt_key(messages)
        row = cache.get(key) or cache.get(example["id"])  # by id: only rows logged before prompts were hashed
        if row is None:
            raw, cut = write(messages)
            row = {"id": example["id"], "prompt": key, "writer": cfg.write_model, "raw": raw, "cut": cut}
            log(row)
        answer, verdict = (None, "cut_off") if row["cut"] else judge(row["raw"], example, cfg.write_min_keep,
                                                                               cfg.write_trim)
        stats[verdict] += 1
        if answer is not None:
            out.append(with_answer(example, answer))
        elif cfg.write_keep_templates:
            out.append(example)
    return out


def write_answers(dataset_dir: Path, out_dir: Path, cfg: WriteConfig, write: Write,
                  progress: Callable[[int, Counter], None] | None = None) -> dict:
    """Rewrite the dataset folder's answers with `write` into `out_dir` (a dataset folder the train stage reads)."""
    dataset = read_json(dataset_dir / DATASET_CONFIG, "run the dataset stage first")
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = load_cache(out_dir / ANSWERS, cfg.write_model)
    train, val = read_jsonl(dataset_dir / TRAIN), read_jsonl(dataset_dir / VAL)
    limit = cfg.write_limit or sum(e["kind"] == "answer" for e in train)
    deadline = time.monotonic() + cfg.write_minutes * 60 if cfg.write_minutes else float("inf")
    stats: dict[str, Counter] = {"train": Counter(), "val": Counter()}
    made = 0
    end_line(out_dir / ANSWERS)
    with (out_dir / ANSWERS).open("a", encoding="utf-8") as log_file:
        def log(row: dict) -> None:
            nonlocal made
            log_file.write(json.dumps(row, ensure_ascii=False) + "\n")
            log_file.flush()  # an interrupted run keeps every answer already paid for
            made += 1
            if progress:
                progress(made, stats["train"] + stats["val"])

        written_val = rewrite(val, cfg.write_val, write, cfg, cache, log, float("inf"), stats["val"])
        written_train = rewrite(train, limit, write, cfg, cache, log, deadline, stats["train"])
    write_jsonl(out_dir / TRAIN, written_train)
    write_jsonl(out_dir / VAL, written_val)
    shutil.copyfile(dataset_dir / HELDOUT, out_dir / HELDOUT)
    summary = {**dataset, "written": {
        "config": as_dict(cfg), "from": str(dataset_dir.resolve()),
        "from_sha256": dataset["sha256"], "verdicts": {k: dict(v) for k, v in stats.items()},
        "train_written": sum(bool(e.get("writer")) for e in written_train), "train": len(written_train),
        "val_written": sum(bool(e.get("writer")) for e in written_val), "val": len(written_val)}}
    summary["counts"] = {**dataset["counts"], "train": len(written_train), "val": len(written_val)}
    summary["sha256"] = {name: sha256_file(out_dir / name) for name in (TRAIN, VAL, HELDOUT)}
    write_json(out_dir / DATASET_CONFIG, summary)
    return summary


def training_data(dataset_dir: Path, written_dir: Path) -> Path:
    """The folder the train stage reads: the written one when it exists, after checking it is not stale."""
    if not (written_dir / DATASET_CONFIG).is_file():
        return dataset_dir
    written = read_json(written_dir / DATASET_CONFIG, "the written dataset")["written"]
    current = read_json(dataset_dir / DATASET_CONFIG, "run the dataset stage first")["sha256"]
    if written["from_sha256"] != current:
        raise ArtifactMissing(f"{written_dir} was written from an older dataset: run the write stage again "
                              "(or delete the folder to train on the template answers)")
    return written_dir


def write_stage(dataset_dir: Path, out_dir: Path, cfg: WriteConfig, settings,
                progress: Callable[[int, Counter], None] | None = None) -> dict:
    """The stage as the script and `coursebot adapter write` run it: the writer GGUF through llama.cpp."""
    from knowledge.answer.generation import LlamaGenerator

    from .base_model import resolve_base

    if not cfg.write_model:
        raise ConfigError("the write stage needs write_model=MODEL.gguf (e.g. the 1.5B writing for a 0.5B run)")
    model = resolve_base(cfg.write_model, settings.models_dir)
    if not model.gguf:
        raise ConfigError(f"write_model={cfg.write_model}: a GGUF is needed (llama.cpp writes the answers)")
    generator = LlamaGenerator(Path(model.location), settings.n_ctx, settings.n_threads)
    return write_answers(dataset_dir, out_dir, cfg, llama_writer(generator, cfg.write_max_tokens,
                                                                 cfg.write_temperature), progress)


def llama_writer(generator, max_tokens: int, temperature: float) -> Write:
    """A `Write` from a `knowledge.answer.generation.LlamaGenerator` (the serving code path, same sampling)."""
    def write(messages: list[dict]) -> tuple[str, bool]:
        completion = generator.stream(messages, max_tokens, lambda _: None, temperature=temperature)
        return completion.text, completion.completion_tokens >= max_tokens
    return write
