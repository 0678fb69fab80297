"""What `coursebot bench` measures: one function per section, each returning its figures (bench/report.py)
with a target and a baseline measured in the same run, against the real components it is given.

The command (bench/cli.py, because one figure needs the bot) opens the services, picks the corpus and prints.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from knowledge.answer.answerer import Answerer, AnswerResult, Retrieved
from knowledge.answer.prompt import build_messages
from knowledge.core import Knowledge
from knowledge.errors import KnowledgeError
from knowledge.ingest.chunking import CHUNKER_VERSION, describe, make_nodes
from knowledge.ingest.filetypes import sha256_file, sniff
from knowledge.ingest.indexer import FILE_ERRORS, Indexer, course_files, version_key
from knowledge.ingest.readers import Unit, read_units
from knowledge.retrieval import SEARCHED_PROPERTIES, Retriever
from knowledge.store import ChunkStore

from .report import Figure, at_least, at_most, fmt, percentile

SECTIONS = ("ingest", "retrieval", "synthetic", "answers", "follow_ups", "throughput", "server", "rss",
            "media")  # follow_ups: bench/levers.py, server: bench/server.py, media: bench/media.py
Log = Callable[[str], None]


# -- small I/O helpers ---------------------------------------------------------------------------------------
def timed(fn, *args, **kwargs):
    """(fn's result, seconds it took)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def peak_rss_mb() -> float:
    """This process's peak resident set size. VmHWM, not ru_maxrss: Linux carries the parent's ru_maxrss over
    into a child it forks and execs, so a small child would report the parent's peak."""
    return int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024


# -- ingest ------------------------------------------------------------------------------------------------
def file_texts(indexer: Indexer, path: Path, root: Path) -> list[str]:
    """The texts the indexer embeds for one file (same reader, chunker and context line); [] if it fails."""
    try:
        units = read_units(path, sniff(path, indexer.max_file_bytes), indexer.max_pages)
    except FILE_ERRORS:  # the indexer records these files as failed and embeds nothing
        return []
    info = describe(path.relative_to(root).as_posix(), version_key(sha256_file(path), CHUNKER_VERSION))
    nodes = make_nodes(units, info, indexer.chunk_size, indexer.chunk_overlap)
    return [n.get_content(metadata_mode="embed") for n in nodes]


NOTE = "Nota añadida por el benchmark: este párrafo es nuevo."


def edit_one_file(corpus: Path) -> Path | None:
    """Change one file as a teacher would: a paragraph added to the largest notebook (or Markdown/text file)."""
    for pattern in ("*.ipynb", "*.md", "*.txt"):
        files = sorted(corpus.rglob(pattern), key=lambda p: p.stat().st_size)
        if not files:
            continue
        path = files[-1]
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            cell = next((c for c in nb["cells"] if c.get("cell_type") == "markdown"), None)
            if cell is None:
                continue
            source = cell.get("source", [])
            cell["source"] = [NOTE + "\n\n", *(source if isinstance(source, list) else [source])]
            path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        else:
            path.write_text(path.read_text(encoding="utf-8") + f"\n\n{NOTE}\n", encoding="utf-8")
        return path
    return None


def bench_ingest(indexer: Indexer, corpus: Path) -> list[Figure]:
    """Cold ingest vs raw embedding of the same chunk texts; refresh with no change and with one file edited."""
    embedder, files = indexer.embedder, course_files(corpus)
    texts = [t for path in files for t in file_texts(indexer, path, corpus)]
    chars = sum(map(len, texts))
    embedder.get_text_embedding_batch(texts[:2])  # load the model outside the timings
    _, raw_s = timed(embedder.get_text_embedding_batch, texts)
    cold, cold_s = timed(indexer.refresh, corpus)
    nochange, nochange_s = timed(indexer.refresh, corpus)
    raw_label = f"raw {embedder.model_name.split('/')[0]}, same {len(texts)} chunk texts"
    figures = [
        Figure("ingest", f"cold ingest ({len(files)} files, {len(texts)} chunks)", cold_s, "s", at_most(1.3, True),
               raw_s, raw_label, f"{chars:,} characters; {len(cold.failed)} files failed"),
        Figure("ingest", "cold ingest throughput", chars / cold_s, "chars/s", None, chars / raw_s, raw_label),
        Figure("ingest", "refresh, nothing changed", nochange_s, "s", at_most(5), cold_s, "cold ingest",
               f"{len(nochange.unchanged)} files unchanged"),
        Figure("ingest", "refresh, nothing changed: chunks embedded", nochange.chunks_embedded, "chunks",
               at_most(0), len(texts), "full re-embed"),
    ]
    edited = edit_one_file(corpus)
    if edited is not None:
        changed_texts = file_texts(indexer, edited, corpus)
        _, file_raw_s = timed(embedder.get_text_embedding_batch, changed_texts)
        one, one_s = timed(indexer.refresh, corpus)
        figures.append(Figure(
            "ingest", "refresh, one file changed", one_s, "s", at_most(15), file_raw_s,
            f"raw embedding of that file's {len(changed_texts)} chunks",
            f"{edited.name}: {one.chunks_embedded} of {one.chunks_written} chunks re-embedded"))
    return figures


# -- retrieval ---------------------------------------------------------------------------------------------
class TimedEmbedder:
    """Wraps the embedder so a Retriever's search can be split into query embedding and search time."""

    def __init__(self, inner):
        self.inner, self.last_ms = inner, 0.0

    def get_query_embedding(self, query: str) -> list[float]:
        start = time.perf_counter()
        vector = self.inner.get_query_embedding(query)
        self.last_ms = (time.perf_counter() - start) * 1000
        return vector


def search_latencies(store: ChunkStore, embedder, questions: list[str], k: int, alpha: float,
                     samples: int) -> dict[str, list[float]]:
    """Milliseconds per query: the product's hybrid search (Retriever) split into query embedding and search,
    and the baselines on the same vectors: Weaviate's pure vector search and BM25-only search."""
    timer = TimedEmbedder(embedder)
    retriever = Retriever(store, timer, k, alpha)
    vectors = {q: embedder.get_query_embedding(q) for q in questions}
    collection = store.collection
    runs = {
        "search": lambda q: retriever.search(q),
        "vector": lambda q: collection.query.near_vector(near_vector=vectors[q], limit=k),
        "bm25": lambda q: collection.query.bm25(q, query_properties=SEARCHED_PROPERTIES, limit=k),
    }
    for q in questions[:3]:  # warm up connections and caches
        for run in runs.values():
            run(q)
    out: dict[str, list[float]] = {"embed": [], "search": [], "vector": [], "bm25": []}
    for i in range(max(samples, len(questions))):
        q = questions[i % len(questions)]
        for name, run in runs.items():
            _, seconds = timed(run, q)
            ms = seconds * 1000
            if name == "search":
                out["embed"].append(timer.last_ms)
                ms -= timer.last_ms
            out[name].append(ms)
    return out


def retrieval_figures(section: str, label: str, lat: dict[str, list[float]], p95_limit: float) -> list[Figure]:
    p = {name: (percentile(v, 50), percentile(v, 95)) for name, v in lat.items()}
    return [
        Figure(section, f"hybrid search p50 ({label})", p["search"][0], "ms", None, p["vector"][0],
               "vector-only search", f"BM25-only p50 {fmt(p['bm25'][0])} ms"),
        Figure(section, f"hybrid search p95 ({label})", p["search"][1], "ms", at_most(p95_limit), p["vector"][1],
               "vector-only search", f"BM25-only p95 {fmt(p['bm25'][1])} ms; query embedding not included "
               f"(p95 {fmt(p['embed'][1])} ms); {len(lat['search'])} queries"),
    ]


def embedding_figure(lat: dict[str, list[float]]) -> Figure:
    end_to_end = [a + b for a, b in zip(lat["embed"], lat["search"], strict=True)]
    return Figure("retrieval", "query embedding p95 (not in the search figures)", percentile(lat["embed"], 95),
                  "ms", note=f"p50 {fmt(percentile(lat['embed'], 50))} ms; embedding + hybrid search p95 "
                  f"{fmt(percentile(end_to_end, 95))} ms")


# -- the synthetic collection -----------------------------------------------------------------------------
SYNTHETIC_VERSION = 1  # bump when the synthetic objects change: cached collections are then rebuilt
UNITS_PER_FILE = 100


def synthetic_name(n: int, dim: int, embedder: str) -> str:
    key = f"{n}|{dim}|{embedder}|{SYNTHETIC_VERSION}|{CHUNKER_VERSION}"
    return f"BenchSynthetic_{n}_{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def vocabulary(store: ChunkStore) -> list[str]:
    """Words of the indexed corpus, with repetitions (sampling from it follows their frequencies)."""
    words = []
    for obj in store.collection.iterator(return_properties=["text"]):
        words += re.findall(r"[a-záéíóúñü]{3,}", (obj.properties.get("text") or "").lower())
    return words or ["curso", "modelo", "datos", "clase", "entrenamiento", "validación"]


def synthetic_units(rng, vocab: list[str], count: int, max_chars: int) -> list[Unit]:
    """Pages of Spanish-ish sentences drawn from the vocabulary, each long enough to be its own chunk (the
    chunker packs pages under 150 characters with the next one) and short enough not to be split."""
    units = []
    for i in range(count):
        text = ""
        while len(text) < 400:
            words = [vocab[j] for j in rng.integers(0, len(vocab), int(rng.integers(8, 16)))]
            text += " ".join(words).capitalize() + ". "
        units.append(Unit(text[:max_chars].rsplit(" ", 1)[0], "page", i + 1))
    return units


def build_synthetic(store: ChunkStore, n: int, dim: int, vocab: list[str], chunk_size: int,
                    progress: Callable[[int, int], None] | None = None, seed: int = 0) -> None:
    """n chunks with random unit vectors, written with Weaviate batch import (nothing is embedded)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    files, per_batch, done = math.ceil(n / UNITS_PER_FILE), 50, 0
    for first in range(0, files, per_batch):
        nodes = []
        for f in range(first, min(first + per_batch, files)):
            count = min(UNITS_PER_FILE, n - f * UNITS_PER_FILE)
            info = describe(f"Semana {f % 16 + 1:02d}_Sintético/doc_{f:05d}.pdf", f"synthetic-{f}")
            nodes += make_nodes(synthetic_units(rng, vocab, count, chunk_size - 10), info, chunk_size, 0)
        vectors = rng.standard_normal((len(nodes), dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for node, vec in zip(nodes, vectors.tolist(), strict=True):
            node.embedding = vec
        store.add(nodes)
        done += len(nodes)
        if progress:
            progress(done, n)


def synthetic_collection(kb: Knowledge, n: int, fresh: bool = False,
                         progress: Callable[[int, int], None] | None = None) -> tuple[Knowledge, dict]:
    """A view on the synthetic collection of n chunks: reused when a complete one exists (building 100,000
    objects takes minutes), else built from the vocabulary of `kb`'s collection."""
    dim = len(kb.embedder.get_query_embedding("dimensión"))
    name = synthetic_name(n, dim, kb.store.embedder)
    existed = kb.client.collections.exists(name)
    view = kb.with_collection(name)
    reused = existed and not fresh and view.store.count() == n
    start = time.perf_counter()
    if not reused:
        if existed:  # --fresh, or an interrupted build
            view.store.drop()
            view.store.ensure()
        build_synthetic(view.store, n, dim, vocabulary(kb.store), kb.settings.chunk_size, progress)
    return view, {"collection": name, "chunks": view.store.count(), "reused": reused,
                  "build_s": None if reused else round(time.perf_counter() - start, 1)}


# -- answers ----------------------------------------------------------------------------------------------
RAW_SAMPLING = {"temperature": 0.1, "top_p": 0.9, "repeat_penalty": 1.1}  # as LlamaGenerator.stream samples


def raw_completion(llama, messages: list[dict], max_tokens: int, seed: int = 0) -> tuple[float, float]:
    """llama.cpp's create_chat_completion, streamed: (TTFT ms, total ms)."""
    start, ttft = time.perf_counter(), None
    for chunk in llama.create_chat_completion(messages=messages, max_tokens=max_tokens, stream=True, seed=seed,
                                              **RAW_SAMPLING):
        if ttft is None and chunk["choices"][0]["delta"].get("content"):
            ttft = time.perf_counter() - start
    total = time.perf_counter() - start
    return (ttft or total) * 1000, total * 1000


def pipeline_run(answerer: Answerer, question: str) -> tuple[AnswerResult, Retrieved, float, float]:
    """One answer as a user gets it: (result, what was retrieved, TTFT ms incl. retrieval, total ms)."""
    start, ttft, retrieved, result = time.perf_counter(), None, None, None
    for event in answerer.answer_stream(question):
        if isinstance(event, Retrieved):
            retrieved = event
        elif isinstance(event, str) and ttft is None:
            ttft = (time.perf_counter() - start) * 1000
        elif isinstance(event, AnswerResult):
            result = event
    total = (time.perf_counter() - start) * 1000
    return result, retrieved, ttft or total, total


def prime_cache(answerer: Answerer) -> None:
    """Leave only the system prompt in llama.cpp's KV cache: the state any request finds in service, where the
    previous request shared that prefix (and a repeated question would otherwise be served from the cache)."""
    messages = [{"role": "system", "content": answerer.system}, {"role": "user", "content": "ok"}]
    answerer.generator.llama.create_chat_completion(messages=messages, max_tokens=1)


def bench_answers(answerer: Answerer, questions: list[str], log: Log = print) -> list[Figure]:
    """The pipeline vs raw llama.cpp on the same final messages and max tokens, and the prefix cache."""
    generator = answerer.generator
    llama, max_tokens = generator.llama, answerer.settings.max_answer_tokens  # loaded outside the timings
    system_tokens = generator.count_tokens(answerer.system)  # the same system prompt for every question
    rows = []
    for q in questions:
        prime_cache(answerer)
        result, retrieved, ttft, total = pipeline_run(answerer, q)
        if not retrieved.passages:  # nothing retrieved, nothing generated: no raw counterpart
            continue
        messages = build_messages(answerer.system, retrieved.passages, q)
        prime_cache(answerer)
        raw_ttft, raw_total = raw_completion(llama, messages, max_tokens, generator.seed)
        llama.reset()  # n_tokens = 0: no prefix matches, the whole prompt is evaluated
        cold_ttft, _ = raw_completion(llama, messages, max_tokens, generator.seed)
        rows.append({"ttft": ttft, "total": total, "raw_ttft": raw_ttft, "raw_total": raw_total,
                     "cold_ttft": cold_ttft, "prompt": result.timings["prompt_tokens"],
                     "cached": result.timings["cached_tokens"], "written": result.timings["completion_tokens"],
                     "system": system_tokens,
                     "sources": sum(generator.count_tokens(p.text) for p in retrieved.passages)})
        log(f"  answer {len(rows)}/{len(questions)}: TTFT {ttft:.0f} ms (raw {raw_ttft:.0f}, no cache "
            f"{cold_ttft:.0f}), total {total:.0f} ms (raw {raw_total:.0f}); prompt {rows[-1]['prompt']} tokens, "
            f"{rows[-1]['cached']} cached")
    if not rows:
        return []
    col = {key: [r[key] for r in rows] for key in rows[0]}
    p50 = {key: percentile(v, 50) for key, v in col.items()}
    overhead = percentile([a / b for a, b in zip(col["total"], col["raw_total"], strict=True)], 50)
    model = f"{generator.name}, {generator.n_threads} threads, {len(rows)} questions"
    # the machine's raw rates, from the same runs: the whole prompt read after llama.reset(), the answer written
    read_rate = percentile([r["prompt"] / (r["cold_ttft"] / 1000) for r in rows], 50)
    write_rate = percentile([r["written"] / max((r["raw_total"] - r["raw_ttft"]) / 1000, 1e-6) for r in rows], 50)
    limit = [(r["prompt"] - r["cached"]) / read_rate * 1000 for r in rows]  # uncached tokens ÷ raw prompt rate
    uncached = [r["prompt"] - r["cached"] for r in rows]
    return [
        Figure("answers", "raw prompt rate (llama.cpp, whole prompt)", read_rate, "tok/s", None, None, "",
               f"raw generation rate {write_rate:.1f} tok/s; {model}"),
        Figure("answers", "TTFT p50 vs its limit (uncached tokens ÷ raw prompt rate)", p50["ttft"], "ms",
               at_most(1.1, relative=True), percentile(limit, 50), "the limit, same answers"),
        Figure("answers", "uncached prompt tokens p50", percentile(uncached, 50), "tok", None, p50["prompt"],
               "the whole prompt", f"system {p50['system']:.0f}, sources {p50['sources']:.0f} tokens (median)"),
        Figure("answers", "TTFT p50 (pipeline, incl. retrieval)", p50["ttft"], "ms", at_most(2000),
               p50["raw_ttft"], "raw llama.cpp, prefix cached", model),
        Figure("answers", "TTFT p95 (pipeline, incl. retrieval)", percentile(col["ttft"], 95), "ms", None,
               percentile(col["raw_ttft"], 95), "raw llama.cpp, prefix cached"),
        Figure("answers", "answer total p50 (pipeline)", p50["total"], "ms", None, p50["raw_total"],
               "raw llama.cpp, same messages", f"max {max_tokens} tokens both"),
        Figure("answers", "pipeline overhead (median total / raw total)", overhead, "×", at_most(1.10), 1.0,
               "raw llama.cpp"),
        Figure("answers", "raw TTFT p50 with the prefix cache", p50["raw_ttft"], "ms", None, p50["cold_ttft"],
               "raw llama.cpp after llama.reset()",
               f"prompt {p50['prompt']:.0f} tokens, {p50['cached']:.0f} cached (median)"),
    ]


def bench_throughput(answerer: Answerer, questions: list[str], k: int) -> list[Figure]:
    """k requests at once through the GenerationQueue vs the same k one after another."""
    batch = [questions[i % len(questions)] for i in range(k)]
    prime_cache(answerer)
    _, serial_s = timed(lambda: [pipeline_run(answerer, q) for q in batch])
    prime_cache(answerer)
    with ThreadPoolExecutor(k) as pool:
        runs, concurrent_s = timed(lambda: list(pool.map(lambda q: pipeline_run(answerer, q), batch)))
    deepest = max(retrieved.queue_position for _, retrieved, _, _ in runs)
    return [Figure("throughput", f"answers/min, {k} requests at once", k / concurrent_s * 60, "answers/min",
                   at_least(0.9, True), k / serial_s * 60, f"the same {k} one after another",
                   f"FIFO queue on one model: at most {deepest} waiting ahead of a request")]


# -- peak RSS, measured in child processes ----------------------------------------------------------------
# The baseline for the bot's RSS: a process that imports only llama.cpp, loads the same GGUF and answers once.
BARE_MODEL_CHILD = """
import json, sys
from llama_cpp import Llama
c = json.load(sys.stdin)
llama = Llama(model_path=c["model"], n_ctx=c["n_ctx"], n_threads=c["n_threads"], lora_path=c["lora"], verbose=False)
llama.create_chat_completion(messages=[{"role": "user", "content": "¿Qué es la validación cruzada?"}],
                             max_tokens=c["max_tokens"])
peak_kib = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print("BENCH_RESULT " + json.dumps({"peak_rss_mb": peak_kib / 1024}))
"""


def child_result(argv: list[str], config: dict, timeout: float = 900) -> dict:
    """Run a child with `config` as JSON on stdin; its result is the last `BENCH_RESULT {json}` line it prints.
    (subprocess.run kills the child if we are interrupted.)"""
    proc = subprocess.run(argv, input=json.dumps(config), capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if proc.returncode != 0 or not lines:
        raise KnowledgeError(f"benchmark child {argv[1:3]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1].removeprefix("BENCH_RESULT "))
