"""What the bot writes, as pure functions: Telegram HTML (escaped), split to fit 4,096 characters."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from knowledge.answer.answerer import AnswerResult, Retrieved

MAX_MESSAGE = 4096  # Telegram's limit for a message text (after entity parsing; raw HTML is longer)
PASSAGE_CHARS = 700  # of a cited passage shown by "Ver fuente"
CURSOR = " ▌"


CLIP = 300  # characters of user-supplied text (a question, a file name, an error) shown inside a list line


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def clip(text: str, limit: int = CLIP) -> str:
    """Text cut to `limit` characters (with "…"), so that no line of a list can outgrow a message."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# -- splitting ---------------------------------------------------------------------------------------
_BREAKS = ("\n\n", "\n", ". ", " ")


def split_plain(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut plain text into pieces whose *escaped* form fits `limit`, at paragraph, line, sentence or
    word boundaries when possible."""
    pieces: list[str] = []
    rest = text.strip()
    while rest:
        if len(escape(rest)) <= limit:
            pieces.append(rest)
            break
        cut = _fit(rest, limit)
        window = rest[:cut]
        for sep in _BREAKS:
            at = window.rfind(sep)
            if at > cut // 3:
                cut = at + len(sep)
                break
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return [p for p in pieces if p]


def _fit(text: str, limit: int) -> int:
    """The longest prefix length whose escaped form fits `limit`."""
    used = 0
    for i, ch in enumerate(text):
        used += len(escape(ch))
        if used > limit:
            return max(i, 1)
    return len(text)


def pack(blocks: Iterable[str], limit: int = MAX_MESSAGE, sep: str = "\n\n") -> list[str]:
    """Join self-contained HTML blocks (each ≤ limit) into as few messages as fit."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if not block:
            continue
        candidate = f"{current}{sep}{block}" if current else block
        if len(candidate) <= limit:
            current = candidate
        else:
            if current:
                messages.append(current)
            current = block
    if current:
        messages.append(current)
    return messages


def plain_blocks(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Escaped paragraphs of plain text, none longer than `limit`."""
    return [escape(piece) for para in re.split(r"\n\s*\n", text) for piece in split_plain(para, limit)]


# -- answers ------------------------------------------------------------------------------------------
def searching_text(retrieved: Retrieved, max_labels: int = 3) -> str:
    """What the placeholder says once retrieval ends: where we look, and the place in line."""
    labels = list(dict.fromkeys(h.label for h in retrieved.hits if h.label))
    if not labels:
        return "🔎 No encontré nada sobre eso en los materiales del curso."
    shown = "; ".join(labels[:max_labels]) + (" …" if len(labels) > max_labels else "")
    text = f"🔎 Buscando en: {shown}"
    if retrieved.queue_position > 0:
        ahead = retrieved.queue_position
        text += f"\n⏳ Hay {ahead} {'pregunta' if ahead == 1 else 'preguntas'} antes que la tuya."
    return text


def streaming_text(header: str, partial: str, limit: int = MAX_MESSAGE) -> str:
    """The placeholder while the model writes (plain text, no parse mode)."""
    text = f"{header}\n\n{partial.strip()}{CURSOR}" if partial.strip() else header
    if len(text) > limit:  # show the newest part; the final message is split properly
        text = "…" + text[-(limit - 1):]
    return text


def answer_messages(result: AnswerResult, limit: int = MAX_MESSAGE) -> list[str]:
    """The final answer in HTML: text with [n] markers, then the "Fuentes" list; split to fit."""
    blocks = plain_blocks(result.answer, limit) or [escape("(sin respuesta)")]
    if result.abstained:
        blocks[0] = "🤷 " + blocks[0] if len(blocks[0]) + 2 <= limit else blocks[0]
    elif result.citations:
        lines = [f"[{c['n']}] {escape(c['label'] or c['file'])}" for c in result.citations]
        blocks.append("<b>Fuentes</b>\n" + "\n".join(lines))
    return pack(blocks, limit)


def passages_messages(citations: list[dict], limit: int = MAX_MESSAGE) -> list[str]:
    """"Ver fuente": each cited passage with its file and location."""
    blocks = []
    for c in citations:
        text = " ".join(c.get("text", "").split())
        if len(text) > PASSAGE_CHARS:
            text = text[:PASSAGE_CHARS].rsplit(" ", 1)[0] + " …"
        blocks.append(f"<b>[{c['n']}] {escape(c.get('label') or c['file'])}</b>\n"
                      f"📁 <code>{escape(c['file'])}</code>\n<blockquote>{escape(text)}</blockquote>")
    return pack(blocks, limit)


# -- staff --------------------------------------------------------------------------------------------
def escalation_text(student: str, question: str, answer: str, limit: int = MAX_MESSAGE) -> str:
    """What the staff receive; they answer by replying to it."""
    head = f"🙋 <b>Pregunta para el equipo</b> de {escape(student)}\n\n<b>Pregunta:</b> "
    tail = "\n\n↩️ Responde a este mensaje y le haré llegar tu respuesta al estudiante."
    budget = limit - len(head) - len(tail) - len("\n\n<b>Respuesta del bot:</b> ")
    q = split_plain(question, budget // 2)[0] if question.strip() else "—"
    a = split_plain(answer, budget - len(escape(q)))[0] if answer.strip() else "—"
    return f"{head}{escape(q)}\n\n<b>Respuesta del bot:</b> {escape(a)}{tail}"


def student_name(first_name: str, username: str | None, user_id: int) -> str:
    return f"{first_name} (@{username}, id {user_id})" if username else f"{first_name} (id {user_id})"
