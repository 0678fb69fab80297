"""`coursebot`: the command line. One error boundary turns knowledge errors into messages and exit codes.

Commands from the outer layers (`serve` from bot, `adapter` from adapters) are registered through the
`coursebot.commands` entry points, so this module never imports them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .core import Knowledge
from .errors import GeneratorUnavailable, KnowledgeError, RefreshBusy
from .evaluation.collection import eval_collection
from .settings import Settings, load_settings

app = typer.Typer(help="coursebot: answers from the course's own materials, with citations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
sources_app = typer.Typer(help="List and remove indexed sources.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
err = Console(stderr=True)
out = Console()

EXIT_ERROR, EXIT_PARTIAL, EXIT_BUSY = 1, 3, 75  # 75 = EX_TEMPFAIL: cron may simply retry


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO if verbose else logging.WARNING)
    # httpx logs request URLs; Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def settings_from(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def _main(ctx: typer.Context, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    setup_logging(verbose)
    ctx.obj = load_settings()


class LineProgress:
    """Progress for logs and CI (no terminal): a line per 10% of each task, same calls as rich's Progress."""

    def __init__(self):
        self.tasks: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def add_task(self, description: str, total=None, **fields) -> int:
        self.tasks.append({"description": description, "total": total, "shown": -1})
        return len(self.tasks) - 1

    def update(self, task: int, completed: int = 0, total=None, **fields) -> None:
        t = self.tasks[task]
        t["total"] = total or t["total"]
        if t["total"]:
            decile = int(10 * completed / t["total"])
            if decile > t["shown"]:
                t["shown"] = decile
                err.print(f"{t['description']}: {completed}/{t['total']}", highlight=False)


def progress_bar() -> Progress | LineProgress:
    if not err.is_terminal:
        return LineProgress()
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[item]}"), console=err, transient=False)


def print_report(report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    for label, names in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for name in names:
            out.print(f"  [green]{label:>9}[/] {name}")
    for f in report.failed + report.still_failing:
        out.print(f"  [red]{'failed':>9}[/] {f['file']}: {f['error']}")
    for f in report.unreadable:
        out.print(f"  [yellow]{'partial':>9}[/] {f['file']}: pages {', '.join(map(str, f['pages']))} left out "
                  "(OCR could not read them)", markup=True, highlight=False)
    out.print(f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
              f"{len(report.unchanged)} unchanged, {len(report.failed) + len(report.still_failing)} failed; "
              f"{report.chunks_written} chunks written ({report.chunks_embedded} embedded) "
              f"in {report.seconds:.1f}s")


def _run_indexing(ctx, work, as_json: bool) -> None:
    with Knowledge(settings_from(ctx)) as kb, progress_bar() as bar:
        task = bar.add_task("indexing", total=None, item="")

        def progress(name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, item=name)

        report = work(kb, progress)
    print_report(report, as_json)
    if report.failed:
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def ingest(ctx: typer.Context, paths: list[Path],
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Index files or folders (a folder's files get ids relative to it)."""
    for p in paths:
        if not p.exists():
            raise KnowledgeError(f"{p}: no such file or folder")
    _run_indexing(ctx, lambda kb, progress: kb.indexer.ingest(paths, progress), as_json)


@app.command()
def refresh(ctx: typer.Context,
            directories: Annotated[list[Path] | None, typer.Argument(help="default: COURSEBOT_REFRESH_FOLDERS "
                                                                   "or the materials folder")] = None,
            pull: Annotated[bool, typer.Option(help="git pull folders that are git checkouts first")] = False,
            golden: Annotated[Path | None, typer.Option(help="QA JSONL for the regression check")] = None,
            wait: Annotated[bool, typer.Option(help="wait for a running refresh instead of exiting")] = True,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Re-index what changed: new, changed and deleted files; unchanged ones are skipped. Under a lock."""
    from .refresh import run_refresh

    s = settings_from(ctx)
    folders = [d.resolve() for d in directories] if directories else s.resolved_refresh_folders
    for d in folders:
        if not d.is_dir():
            raise KnowledgeError(f"{d}: not a folder")
    with Knowledge(s) as kb:
        outcome = run_refresh(kb, folders, pull=pull or s.refresh_pull, golden=golden or s.golden_set,
                              max_drop=s.regression_max_drop, wait=wait)
    if as_json:
        print(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_report(outcome.report, False)
        if outcome.regression:
            g = outcome.regression
            out.print(f"golden set hit@5: {g.hit_at_5_before} → {g.hit_at_5_after}"
                      + (f"  [red]REGRESSION[/] ({len(g.regressed)} questions)" if g.alert else ""))
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@sources_app.command("list")
def sources_list(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Indexed sources with chunk counts, dates and errors."""
    from .registry import list_sources

    with Knowledge(settings_from(ctx)) as kb, kb.sessions() as s:
        rows = [{"file": r.doc_id, "chunks": r.chunk_count, "indexed_at": r.indexed_at.isoformat()
                 if r.indexed_at else None, "kind": r.kind, "error": r.error}
                for r in list_sources(s, kb.store.name)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table("file", "chunks", "indexed at", "error")
    for r in rows:
        table.add_row(r["file"], str(r["chunks"]), (r["indexed_at"] or "")[:19], r["error"] or "")
    out.print(table)


@sources_app.command("remove")
def sources_remove(ctx: typer.Context, path: str) -> None:
    """Remove a source (its id as `sources list` shows it) from the index."""
    with Knowledge(settings_from(ctx)) as kb:
        deleted = kb.indexer.remove(path)
    out.print(f"removed {path} ({deleted} chunks)")


@app.command()
def search(ctx: typer.Context, query: str, k: Annotated[int, typer.Option("--k")] = 5,
           week: Annotated[int | None, typer.Option(help="only this course week")] = None,
           file: Annotated[str | None, typer.Option(help="only this source")] = None,
           as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Hybrid search over the course, with provenance."""
    with Knowledge(settings_from(ctx)) as kb:
        hits = kb.retriever.search(query, k=k, week=week, file=file)
    if as_json:
        print(json.dumps({"query": query, "results": [h.to_dict() for h in hits]}, ensure_ascii=False,
                         indent=2))
        return
    for n, h in enumerate(hits, start=1):
        out.print(f"[bold]{n}. {h.label}[/]  [dim]{h.file} · score {h.score:.3f}[/]")
        out.print("   " + " ".join(h.text.split())[:240])


@app.command()
def status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Server, counts and models; exit code 1 when Weaviate or the generator's file is missing (a healthcheck)."""
    s = settings_from(ctx)
    info: dict = {"data_dir": str(s.resolved_data_dir), "weaviate": s.weaviate_url or "managed local server",
                  "collection": s.collection, "embedder": s.embed_model,
                  "generator": s.generator_url or str(s.model_path(s.generator_model))}
    with Knowledge(s) as kb:
        info["weaviate_url"] = kb.server.url if kb.server else s.weaviate_url
        info["server_up"] = bool(kb.client and kb.client.is_ready())
        counts = kb.store.chunk_counts()
        info["sources"], info["chunks"] = len(counts), sum(counts.values())
        info["replication"] = kb.store.replication_factor()
        if s.generator_url:  # a server: present = it answers
            try:
                kb.generator.load()
                info["generator_present"] = True
            except GeneratorUnavailable as e:
                info["generator_present"], info["generator_error"] = False, str(e)
    info.setdefault("generator_present", Path(info["generator"]).is_file())
    warnings = []
    if info["replication"] < s.weaviate_replication:
        warnings.append(f"collection {s.collection} has {info['replication']} copy(ies) of each shard, not the "
                        f"{s.weaviate_replication} COURSEBOT_WEAVIATE_REPLICATION asks for: it was created without "
                        "it (the factor is set when a collection is created; index into a new COURSEBOT_COLLECTION "
                        "to replicate it)")
    info["warnings"] = warnings
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
    else:
        for key, value in info.items():
            if key != "warnings":
                out.print(f"{key:>18}: {value}")
        for warning in warnings:
            err.print(f"[yellow]warning:[/] {warning}")
    if not (info["server_up"] and info["generator_present"]):
        raise typer.Exit(1)


@app.command()
def ask(ctx: typer.Context, question: str,
        as_json: Annotated[bool, typer.Option("--json")] = False,
        stream: Annotated[bool, typer.Option("--stream", help="print the answer as it is written")] = False,
        generator: Annotated[Path | None, typer.Option(help="another GGUF model")] = None) -> None:
    """Answer a question from the course, with citations (or an honest decline)."""
    from .answer.answerer import AnswerResult, Retrieved

    s = settings_from(ctx)
    if generator is not None:
        s.generator_model = str(generator)
    with Knowledge(s) as kb:
        result = None
        for event in kb.answerer.answer_stream(question):
            if isinstance(event, Retrieved) and stream and not as_json:
                err.print("[dim]Buscando en: " + "; ".join(h.label for h in event.hits[:3]) + "[/]")
            elif isinstance(event, str) and stream and not as_json:
                print(event, end="", flush=True)
            elif isinstance(event, AnswerResult):
                result = event
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    if stream:
        print("\n" + "-" * 40)
    out.print(result.full_text(), highlight=False)


@app.command("eval")
def evaluate(ctx: typer.Context, qa: Path,
             corpus: Annotated[Path, typer.Option(help="course folder the questions are about")],
             k: Annotated[int | None, typer.Option("--k", help="chunks retrieved per answer")] = None,
             answers: Annotated[bool, typer.Option("--answers/--no-answers",
                                                   help="also generate and score answers (slow)")] = True,
             baseline: Annotated[bool, typer.Option("--baseline/--no-baseline",
                                                    help="also run the LlamaIndex default query engine")] = True,
             generator: Annotated[Path | None, typer.Option(help="evaluate another GGUF model")] = None,
             limit: Annotated[int | None, typer.Option(help="only the first N items")] = None,
             details: Annotated[Path | None, typer.Option(help="write per-item answers here (JSONL)")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Retrieval (hybrid vs BM25 vs vector) and answers (pipeline vs LlamaIndex default) on a QA set."""
    from .evaluation.metrics import (
        answer_metrics,
        evaluate_evidence,
        evaluate_retrieval,
        load_items,
        run_llamaindex_default,
        run_pipeline,
    )
    from .evaluation.outcomes import outcome_report, outcomes_by_id, paired, write_details

    s = settings_from(ctx)
    if generator is not None:
        s.generator_model = str(generator)
    if k is not None:
        s.answer_k = k
    items = load_items(qa)[:limit]
    result: dict = {}
    with Knowledge(s) as kb:
        ev = kb.with_collection(eval_collection(corpus, s))
        with progress_bar() as bar:
            task = bar.add_task("indexing corpus", total=None, item="")
            ev.indexer.refresh(corpus, lambda name, d, t: bar.update(task, completed=d, total=t, item=name))
            task = bar.add_task("retrieval", total=None, item="")
            result["retrieval"] = evaluate_retrieval(ev.retriever, items,
                                                     lambda d, t: bar.update(task, completed=d, total=t))
            task = bar.add_task("evidence in the prompt", total=None, item="")
            shape = ev.answerer.settings.shape
            other = "chunks" if shape.evidence == "sentences" else "sentences"
            shapes = {f"{shape.evidence} (set)": shape, other: dataclasses.replace(shape, evidence=other)}
            result["evidence"] = evaluate_evidence(ev.retriever, items, shapes, ev.answerer.count_tokens,
                                                   lambda d, t: bar.update(task, completed=d, total=t))
            if answers:
                task = bar.add_task("answers (pipeline)", total=None, item="")
                records = run_pipeline(ev.answerer, items, lambda d, t: bar.update(task, completed=d, total=t))
                result["answers"] = {"pipeline": {"outcomes": outcome_report(records), **answer_metrics(records)}}
                result["answers"]["pipeline"]["generator"] = ev.generator.name
                if details:
                    write_details(details, "pipeline", records)
                if baseline:
                    task = bar.add_task("answers (LlamaIndex default)", total=None, item="")
                    base = run_llamaindex_default(ev.store, ev.embedder, ev.generator, items,
                                                  lambda d, t: bar.update(task, completed=d, total=t),
                                                  max_tokens=ev.settings.max_answer_tokens)
                    result["answers"]["llamaindex_default"] = {"outcomes": outcome_report(base),
                                                               **answer_metrics(base)}
                    result["paired"] = paired(outcomes_by_id(base), outcomes_by_id(records)).describe(
                        "llamaindex_default", "pipeline")
                    if details:
                        write_details(details, "llamaindex_default", base)
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    table = Table("retrieval", *[f"hit@{n}" for n in (1, 3, 5, 10)], "MRR", "n")
    for mode, m in result["retrieval"].items():
        table.add_row(mode, *[f"{m[f'hit_at_{n}']:.3f}" for n in (1, 3, 5, 10)], f"{m['mrr']:.3f}", str(m["n"]))
    out.print(table)
    table = Table(f"in the prompt (k={s.answer_k})", "all facts", "≥ half", "recall", "gold src", "tokens p50", "n")
    for name, m in result["evidence"].items():  # --json has the p95 and the number of sources too
        table.add_row(name, *[str(m[key]) for key in ("all_facts", "half_facts", "fact_recall", "gold_source",
                                                      "tokens_p50", "n")])
    out.print(table)
    if "answers" in result:
        table = Table("outcome", *result["answers"])
        for key in ("correct", "missed", "wrong", "score", "n"):
            table.add_row(f"[bold]{key}[/]" if key == "score" else key,
                          *[str(m["outcomes"][key]) for m in result["answers"].values()])
        out.print(table)
        if "paired" in result:
            out.print(result["paired"])
        keys = ["citation_precision", "citation_recall", "key_facts", "abstention", "false_abstention",
                "words_per_answer", "ttft_p50_ms", "ttft_p95_ms", "total_p50_ms", "total_p95_ms", "n"]
        table = Table("answers", *result["answers"])
        for key in keys:
            table.add_row(key, *[str(m.get(key)) for m in result["answers"].values()])
        out.print(table)


def _register_plugins() -> None:
    for ep in entry_points(group="coursebot.commands"):
        try:
            ep.load()(app)
        except ImportError as e:  # an optional layer whose dependencies are not installed
            logging.getLogger(__name__).debug("command %s unavailable: %s", ep.name, e)


def main() -> None:
    """Entry point: the one error boundary of the CLI."""
    _register_plugins()
    try:
        app()
    except RefreshBusy as e:
        err.print(f"[yellow]busy:[/] {e}")
        sys.exit(EXIT_BUSY)
    except KnowledgeError as e:
        err.print(f"[red]error:[/] {e}")
        sys.exit(EXIT_ERROR)
