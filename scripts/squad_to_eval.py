"""Turn a public SQuAD-layout QA set into a course folder and a QA set for `coursebot eval` and the adapter gate.

    .venv/bin/python scripts/squad_to_eval.py ../shared/eval/public/squad-es/dev-v2.0-es_small.json \
        --out data/public-eval/squad-es-v2 --articles 4 --questions 60
    coursebot eval data/public-eval/squad-es-v2/squad-es-v2.jsonl --corpus data/public-eval/squad-es-v2/corpus ...
    scripts/train_adapter.py --run=RUN --stages=gate \
        --eval_sets=data/public-eval/squad-es-v2/squad-es-v2.jsonl:data/public-eval/squad-es-v2/corpus

The 40 dev questions are too few to tell two generators apart on abstention (6 unanswerable items). SQuAD 2.0
(SQuAD-es) has hundreds of questions written to look answerable from a paragraph that does not answer them —
exactly what a grounded answer model must decline. Each paragraph of the chosen articles becomes one Markdown
file (`corpus/<article>/parrafo-NN.md`), so the other paragraphs of an article are the distractors retrieval
has to rank below it; its questions cite that file as gold, with the shortest reference answer as the key fact.
The questions are drawn (seeded) half answerable, half not when the set has unanswerable ones, and written
alternating so `--limit` keeps the balance. Nothing here depends on the course or enters training.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from itertools import chain, zip_longest
from pathlib import Path

from knowledge.text import fold


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(title)).strip("-")[:60] or "articulo"


def unused(name: str, taken: set[str]) -> str:
    """`name`, or `name-2`, `name-3`, … the first not taken (ends: `taken` is finite)."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    return candidate


def convert(data: dict, articles: int, questions: int, seed: int) -> tuple[dict[str, str], list[dict]]:
    """SQuAD JSON → ({corpus-relative path: Markdown}, QA items in ../shared/eval's format). Pure."""
    rng = random.Random(seed)
    pool = [a for a in data["data"] if a.get("paragraphs")]
    chosen = rng.sample(pool, min(articles, len(pool)))
    files, answerable, unanswerable, folders = {}, [], [], set()
    for article in chosen:
        title = " ".join(article["title"].replace("_", " ").split())  # "Southern _ California" in SQuAD-es
        folder = unused(slug(title), folders)  # two titles that fold alike ("Física", "FISICA") keep their own
        folders.add(folder)
        for n, paragraph in enumerate(article["paragraphs"], start=1):
            path = f"{folder}/parrafo-{n:02d}.md"
            files[path] = f"# {title} (párrafo {n})\n\n{paragraph['context'].strip()}\n"
            for qa in paragraph["qas"]:
                texts = sorted({a["text"].strip() for a in qa.get("answers", []) if a["text"].strip()}, key=len)
                ok = bool(texts) and not qa.get("is_impossible")
                (answerable if ok else unanswerable).append({
                    "id": f"squad-{qa['id']}", "question": qa["question"].strip(), "answerable": ok,
                    "gold": [{"file": path}] if ok else [], "must_include": [texts[0].lower()] if ok else [],
                    "answer": texts[0] if ok else "", "type": "fact" if ok else "out_of_scope", "week": None})
    picked_yes = rng.sample(answerable, min(len(answerable), questions - min(questions // 2, len(unanswerable))))
    picked_no = rng.sample(unanswerable, min(len(unanswerable), questions - len(picked_yes)))
    items = [i for i in chain.from_iterable(zip_longest(picked_yes, picked_no)) if i is not None]
    return files, items


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("squad", type=Path, help="a SQuAD-layout JSON file (data → paragraphs → context, qas)")
    parser.add_argument("--out", type=Path, required=True,
                        help="a new folder: corpus/ and OUT-NAME.jsonl (named after the folder) go there")
    parser.add_argument("--articles", type=int, default=4, help="articles drawn as the corpus (default 4)")
    parser.add_argument("--questions", type=int, default=60, help="questions drawn from them (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.articles < 1 or args.questions < 1:
        parser.error("--articles and --questions must be at least 1")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} exists and is not empty: choose a new --out (or delete it)")
    try:
        data = json.loads(args.squad.read_text(encoding="utf-8"))
        files, items = convert(data, args.articles, args.questions, args.seed)
    except (OSError, ValueError, KeyError, TypeError) as e:
        parser.error(f"{args.squad}: not a readable SQuAD-layout JSON file ({type(e).__name__}: {e})")

    for rel, text in files.items():
        path = args.out / "corpus" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    qa = args.out / f"{args.out.name}.jsonl"  # the gate names an evaluation set after its file
    qa.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    no = sum(not i["answerable"] for i in items)
    print(f"{len(files)} paragraphs of {len({r.split('/')[0] for r in files})} articles → {args.out / 'corpus'}")
    print(f"{len(items)} questions ({len(items) - no} answerable, {no} unanswerable) → {qa}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
