"""Units → LlamaIndex nodes: sentence-aware chunks that never lose their page, slide or cell.

A chunk never crosses two sections of different kinds of location; short consecutive units (a title
slide, a one-line markdown cell before its code) are packed together and the chunk records the range.
Long units are split by LlamaIndex's `SentenceSplitter` with overlap, each piece keeping its unit's
number. The text that is embedded starts with a context line (week topic, file title, section), which
helps short slides and code cells that do not name their topic.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from .readers import Unit

CHUNKER_VERSION = 4  # bump when chunking changes what a file turns into: files are then re-chunked
NODE_NAMESPACE = uuid.UUID("6f0c3f7e-25a4-4d8a-9a38-1c4b0a6d2f11")
# metadata keys stored with every chunk (also the Weaviate schema in knowledge.store)
META_KEYS = ("file", "title", "topic", "week", "section", "loc_kind", "loc_start", "loc_end",
             "doc_version", "text_sha", "chunk_index", "ingested_at", "context", "ocr")
_WEEK = re.compile(r"^(?:semana|week|sem)\s*0*(\d{1,2})\s*[_\-–: ]*(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class DocInfo:
    """Where a file sits in the course: its id (path relative to the ingested root) and labels."""

    doc_id: str
    title: str
    week: int
    topic: str
    sha256: str


def describe(rel_path: str, sha256: str) -> DocInfo:
    """Title from the file name, week and topic from a 'Semana 14_Fine-Tuning y RAG' folder."""
    path = PurePosixPath(rel_path)
    # control and format characters (a right-to-left override can disguise a name) never reach a citation label
    stem = "".join(ch for ch in path.stem if unicodedata.category(ch)[0] != "C")
    title = re.sub(r"[_]+", " ", stem).strip()
    week, topic = 0, ""
    for folder in path.parts[:-1]:
        m = _WEEK.match(folder.strip())
        if m:
            week, topic = int(m.group(1)), m.group(2).replace("_", " ").strip()
    return DocInfo(rel_path, title, week, topic, sha256)


def make_nodes(units: list[Unit], info: DocInfo, chunk_size: int, chunk_overlap: int,
               min_chars: int | None = None) -> list[TextNode]:
    """Chunk a file's units into nodes with provenance and deterministic UUIDs."""
    min_chars = chunk_size // 3 if min_chars is None else min_chars
    splitter = SentenceSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, tokenizer=list,
                                paragraph_separator="\n\n")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    nodes: list[TextNode] = []
    for group in _pack(units, chunk_size, min_chars):
        text = "\n\n".join(u.text for u in group)
        pieces = [text] if len(text) <= chunk_size else splitter.split_text(text)
        locs = [u.loc for u in group if u.loc is not None]
        section = " / ".join(dict.fromkeys(u.section for u in group if u.section))
        ocr = min((u.ocr for u in group if u.ocr), default=0)  # the least confident page read by OCR
        for piece in pieces:
            nodes.append(_node(piece, info, group[0].loc_kind, _piece_locs(piece, group, locs), section,
                               len(nodes), now, ocr))
    return nodes


# Slides and pages each have their own title: only near-empty ones (a title slide) join the next one.
# Notebook cells are packed more: a short markdown heading belongs with the code cell below it.
PAGE_PACK_CHARS = 150


def _pack(units: list[Unit], chunk_size: int, min_chars: int) -> list[list[Unit]]:
    """Greedy: a group grows while it is shorter than its minimum and the next unit still fits."""
    groups: list[list[Unit]] = []
    for unit in units:
        if groups:
            last = groups[-1]
            size = sum(len(u.text) + 2 for u in last)
            minimum = min(min_chars, PAGE_PACK_CHARS) if unit.loc_kind in ("page", "slide") else min_chars
            if size < minimum and size + len(unit.text) <= chunk_size and last[0].loc_kind == unit.loc_kind:
                last.append(unit)
                continue
        groups.append([unit])
    return groups


def _piece_locs(piece: str, group: list[Unit], locs: list[int]) -> tuple[int | None, int | None]:
    """The locations a piece of a group actually covers (a split piece may cover only one unit)."""
    if not locs:
        return None, None
    if len(group) == 1:
        return locs[0], locs[0]
    probe = piece[:60]
    covered = [u.loc for u in group if u.loc is not None and (probe in u.text or u.text[:60] in piece)]
    covered = covered or locs
    return min(covered), max(covered)


def _node(text: str, info: DocInfo, loc_kind: str | None, span: tuple[int | None, int | None],
          section: str, index: int, now: str, ocr: int = 0) -> TextNode:
    context = " · ".join(p for p in (info.topic, info.title, section) if p)
    node_id = str(uuid.uuid5(NODE_NAMESPACE, f"{info.doc_id}\x00{info.sha256}\x00{index}"))
    metadata = {
        "file": info.doc_id, "title": info.title, "topic": info.topic, "week": info.week,
        "section": section[:200], "loc_kind": loc_kind or "", "loc_start": span[0] or 0,
        "loc_end": span[1] or 0, "doc_version": info.sha256, "chunk_index": index,
        "text_sha": hashlib.sha256(f"{context}\n{text}".encode()).hexdigest(),
        "ingested_at": now, "context": context, "ocr": ocr,
    }
    node = TextNode(id_=node_id, text=text, metadata=metadata,
                    excluded_embed_metadata_keys=[k for k in META_KEYS if k != "context"],
                    excluded_llm_metadata_keys=[k for k in META_KEYS if k not in ("title", "section")],
                    metadata_template="{value}", text_template="{metadata_str}\n{content}")
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=info.doc_id)
    return node


def location_label(loc_kind: str, start: int, end: int) -> str:
    """'pág. 9', 'págs. 9–10', 'diapositiva 3', 'celda 12' (cells shown 0-based, as in the notebook JSON)."""
    if not loc_kind or not start and loc_kind != "cell":
        return ""
    names = {"page": ("pág.", "págs."), "slide": ("diapositiva", "diapositivas"), "cell": ("celda", "celdas")}
    one, many = names[loc_kind]
    return f"{one} {start}" if start == end else f"{many} {start}–{end}"
