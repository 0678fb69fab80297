"""`coursebot bench`: ingest, retrieval, answers, throughput and the bot's memory, each beside its target and a
baseline measured in the same run.

    coursebot bench                  # full run: ../shared corpus and dev questions, 100,000 synthetic chunks
    coursebot bench --quick          # sample course, 2,000 synthetic chunks, 2 questions, the tiny model (tests)
    coursebot bench --skip rss,throughput --questions 4 --out /tmp/bench

It lives in bot/ because one figure builds the bot's Application (knowledge never imports bot); the measuring
is in bench/measure.py. Everything runs in throwaway collections and a throwaway registry; only the
synthetic collection is kept, to be reused by the next run with the same size (`--fresh` rebuilds it).
Writes DATA_DIR/bench/bench-<timestamp>.json and .md (or into --out DIR).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from bench.levers import bench_answer_cache, bench_follow_ups, bench_prompt_lookup
from bench.measure import (
    BARE_MODEL_CHILD,
    SECTIONS,
    bench_answers,
    bench_ingest,
    bench_throughput,
    child_result,
    embedding_figure,
    retrieval_figures,
    search_latencies,
    synthetic_collection,
)
from bench.media import bench_media
from bench.report import HEADER, Figure, at_most, render_row, write_report
from bench.server import bench_server
from knowledge.cli import progress_bar, settings_from
from knowledge.core import Knowledge
from knowledge.errors import GeneratorUnavailable, KnowledgeError
from knowledge.evaluation.metrics import load_items
from knowledge.settings import Settings

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SAMPLE_COURSE = REPO / "sample_course"
TINY_MODEL = "smollm2-135m-instruct-q4_1.gguf"
RSS_LIMIT_MB = 1536  # 1.5 GB
# --quick: short prompts and answers, one llama.cpp thread (it contends least with the rest of a busy machine)
QUICK_ANSWERS = {"max_answer_tokens": 16, "answer_max_sources": 1, "answer_chars_per_source": 300,
                 "answer_total_chars": 300, "n_threads": 1}


@dataclass
class Plan:
    """The run after defaults: --quick changes the defaults, explicit options win over both."""

    corpus: Path
    qa: Path
    questions: int  # answered through the pipeline and raw llama.cpp
    synthetic: int  # chunks in the synthetic collection
    concurrent: int  # requests sent at once for the throughput figure
    samples: int  # timed searches per collection
    rss_questions: int  # questions the bot answers in the RSS child
    sections: list[str]
    quick: bool


def default_qa(corpus: Path) -> Path:
    for path in (corpus / "preguntas.jsonl", SHARED / "eval/dev.jsonl", SAMPLE_COURSE / "preguntas.jsonl"):
        if path.is_file():
            return path
    raise KnowledgeError("no questions file found: pass --qa FILE (QA JSONL)")


def make_plan(quick: bool, corpus: Path | None, qa: Path | None, questions: int | None, synthetic: int | None,
              concurrent: int | None, skip: str) -> Plan:
    skipped = [name.strip() for name in skip.split(",") if name.strip()]
    unknown = sorted(set(skipped) - set(SECTIONS))
    if unknown:
        raise typer.BadParameter(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}",
                                 param_hint="--skip")
    shared_corpus = SHARED / "corpus/ia-aplicada"
    corpus = corpus or (SAMPLE_COURSE if quick or not shared_corpus.is_dir() else shared_corpus)
    if not corpus.is_dir():
        raise typer.BadParameter(f"{corpus}: not a folder", param_hint="--corpus")
    if qa is not None and not qa.is_file():
        raise typer.BadParameter(f"{qa}: no such file", param_hint="--qa")
    return Plan(corpus=corpus.resolve(), qa=qa or default_qa(corpus), questions=questions or (2 if quick else 8),
                synthetic=synthetic or (2_000 if quick else 100_000), concurrent=concurrent or (2 if quick else 8),
                samples=20 if quick else 100, rss_questions=1 if quick else 3,
                sections=[s for s in SECTIONS if s not in skipped], quick=quick)


def emit(figures: list[Figure], into: list[Figure]) -> None:
    for f in figures:
        print(render_row(f), flush=True)
    into.extend(figures)


def bench(ctx: typer.Context,
          corpus: Annotated[Path | None, typer.Option(help="course folder (default: ../shared/corpus/ia-aplicada "
                                                           "when present, else sample_course)")] = None,
          qa: Annotated[Path | None, typer.Option(help="questions, QA JSONL (default: the dev set)")] = None,
          questions: Annotated[int | None, typer.Option(min=1, help="questions answered (default 8)")] = None,
          synthetic: Annotated[int | None, typer.Option(min=100, help="synthetic chunks (default 100,000)")] = None,
          concurrent: Annotated[int | None, typer.Option(min=1, help="requests at once (default 8)")] = None,
          generator: Annotated[Path | None, typer.Option(help="another GGUF model")] = None,
          generator_url: Annotated[str | None, typer.Option(
              help="the server the 'server' section measures (default: llama_cpp.server started here with the "
                   "same GGUF; COURSEBOT_GENERATOR_URL also names it)")] = None,
          out: Annotated[Path | None, typer.Option(help="report folder (default DATA_DIR/bench)")] = None,
          skip: Annotated[str, typer.Option(help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")] = "",
          fresh: Annotated[bool, typer.Option(help="rebuild the cached synthetic collection")] = False,
          quick: Annotated[bool, typer.Option(help="small and fast, with the tiny model (tests)")] = False) -> None:
    """Benchmark ingest, retrieval, answers, throughput and the bot's memory against their targets."""
    s: Settings = settings_from(ctx)
    plan = make_plan(quick, corpus, qa, questions, synthetic, concurrent, skip)
    if generator is not None or quick:
        s.generator_model = str(generator or s.models_dir / TINY_MODEL)
    if quick:
        for name, value in QUICK_ANSWERS.items():
            setattr(s, name, value)
    s.answer_cache_minutes = 0  # every section measures generation; the cache is one lever, measured on its own
    # the in-process generator is the baseline of every section; a configured server is measured beside it
    server_url, s.generator_url = generator_url or s.generator_url or None, ""
    model = s.model_path(s.generator_model)
    if {"answers", "throughput", "rss"} & set(plan.sections) and not model.is_file():
        raise GeneratorUnavailable(f"model file not found: {model}")

    started, stamp = datetime.now().astimezone(), time.strftime("%Y%m%d-%H%M%S")
    meta = {"started": started.isoformat(timespec="seconds"), "model": model.name,
            "threads": s.n_threads or os.cpu_count(), "cores": os.cpu_count(), "embedder": s.embed_model,
            "corpus": str(plan.corpus), "questions_file": str(plan.qa), "quick": plan.quick,
            "skipped": [x for x in SECTIONS if x not in plan.sections],
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in ctx.params.items()}}
    print(f"model {model.name} ({meta['threads']} threads, {meta['cores']} cores) · embedder {s.embed_model}\n"
          f"corpus {plan.corpus} · questions {plan.qa}\n\n{HEADER}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="coursebot-bench-"))
    s.database_url = f"sqlite:///{work / 'registry.db'}"  # the bench's sources never enter the app's registry
    figures: list[Figure] = []
    try:
        shutil.copytree(plan.corpus, work / "corpus")  # one file gets edited: never the original
        with Knowledge(s, collection=f"Bench_{uuid.uuid4().hex[:12]}") as kb:
            try:
                run_sections(kb, plan, work, meta, figures, fresh, server_url)
            finally:
                try:
                    kb.store.drop()
                except KnowledgeError as e:
                    log.warning("could not drop %s: %s", kb.collection_name, e)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta["seconds"] = round((datetime.now().astimezone() - started).total_seconds(), 1)
    json_path, md_path = write_report(out or s.resolved_data_dir / "bench", stamp, meta, figures)
    met = [f.passed for f in figures if f.passed is not None]
    print(f"\n{sum(met)} of {len(met)} targets met in {meta['seconds']:.0f} s\n{json_path}\n{md_path}")


def run_sections(kb: Knowledge, plan: Plan, work: Path, meta: dict, figures: list[Figure], fresh: bool,
                 server_url: str | None = None) -> None:
    s, corpus = kb.settings, work / "corpus"
    questions = [i.question for i in sorted(load_items(plan.qa), key=lambda i: not i.answerable)]
    asked = questions[: plan.questions]
    seconds = meta["section_seconds"] = {}

    def section(name: str, measure: Callable[[], list[Figure]]) -> None:
        if name in plan.sections:
            start = time.perf_counter()
            emit(measure(), figures)
            seconds[name] = round(time.perf_counter() - start, 1)

    def synthetic() -> list[Figure]:
        with progress_bar() as bar:
            task = bar.add_task("synthetic collection", total=plan.synthetic, item="")
            view, meta["synthetic"] = synthetic_collection(
                kb, plan.synthetic, fresh, lambda done, total: bar.update(task, completed=done, total=total))
        lat = search_latencies(view.store, kb.embedder, questions, s.top_k, s.hybrid_alpha, plan.samples)
        return retrieval_figures("synthetic", f"synthetic, {plan.synthetic:,} chunks", lat, 150)

    def retrieval() -> list[Figure]:
        lat = search_latencies(kb.store, kb.embedder, questions, s.top_k, s.hybrid_alpha, plan.samples)
        return [*retrieval_figures("retrieval", f"corpus, {kb.store.count():,} chunks", lat, 50),
                embedding_figure(lat)]

    section("ingest", lambda: bench_ingest(kb.indexer, corpus))
    if "ingest" not in plan.sections and plan.sections:  # the other sections search the indexed corpus
        kb.indexer.refresh(corpus)
    meta["chunks"] = kb.store.count()
    section("retrieval", retrieval)
    section("synthetic", synthetic)
    section("answers", lambda: [*bench_answers(kb.answerer, asked, lambda line: print(line, file=sys.stderr)),
                                *bench_prompt_lookup(kb, asked), *bench_answer_cache(kb, asked)])
    section("follow_ups", lambda: bench_follow_ups(kb, questions[: max(plan.questions, 3)]))  # ≥ 1 conversation
    section("throughput", lambda: bench_throughput(kb.answerer, asked, plan.concurrent))
    section("server", lambda: bench_server(kb, asked, server_url, lambda line: print(line, file=sys.stderr)))
    section("rss", lambda: [bot_rss(kb, questions[: plan.rss_questions])])
    section("media", lambda: bench_media(kb, asked))


# -- peak RSS of the bot, in a child process ------------------------------------------------------------------
def bot_rss(kb: Knowledge, questions: list[str]) -> Figure:
    """Peak RSS of a process serving as the bot does, beside one that only loads the model and answers."""
    s = kb.settings
    values = s.model_dump(mode="json")
    values.update(data_dir=str(s.resolved_data_dir), collection=kb.collection_name,
                  generator_model=str(s.model_path(s.generator_model)))
    if kb.server is not None:  # the child connects to this run's server instead of starting its own
        values.update(weaviate_url=kb.server.url, weaviate_grpc_port=kb.server.grpc_port)
    bot = child_result([sys.executable, "-m", "bench.child"], {"settings": values, "questions": questions})
    if bot["answers"] != len(questions):
        raise KnowledgeError(f"the bot answered {bot['answers']} of {len(questions)} questions in the RSS child")
    generator = kb.generator  # not loaded by this: only its paths are read
    bare = child_result([sys.executable, "-c", BARE_MODEL_CHILD],
                        {"model": str(generator.model_path), "lora": generator.lora_path and str(generator.lora_path),
                         "n_ctx": s.n_ctx, "n_threads": s.n_threads, "max_tokens": s.max_answer_tokens})
    return Figure("rss", "bot peak RSS", bot["peak_rss_mb"], "MB", at_most(RSS_LIMIT_MB), bare["peak_rss_mb"],
                  "llama.cpp alone, same model",
                  f"Application + knowledge core + embedder + {Path(values['generator_model']).name}; "
                  f"answered {bot['answers']} questions through the handlers")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
