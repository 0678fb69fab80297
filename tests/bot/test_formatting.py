"""bot/formatting.py: escaping and splitting to Telegram's limits (pure; checked with the emulator's HTML parser)."""

from __future__ import annotations

from bot.formatting import (
    MAX_MESSAGE,
    answer_messages,
    escalation_text,
    pack,
    passages_messages,
    searching_text,
    split_plain,
    streaming_text,
)
from knowledge.answer.answerer import AnswerResult, Retrieved
from knowledge.retrieval import Hit
from tests.bot.emulator import parse_html


def hit(title: str, kind: str = "page", start: int = 9, end: int = 10, file: str = "clases/Clase 27.pdf") -> Hit:
    return Hit("id", file, title, "", kind, start, end, 1, 0.9, "texto del pasaje")


def result(answer: str, citations: list[dict] | None = None, abstained: bool = False) -> AnswerResult:
    return AnswerResult("¿pregunta?", answer, abstained, "", citations or [], [], answer, 1.0)


CITATION = {"n": 1, "file": "clases/Clase 27.pdf", "title": "Clase 27", "pages": [9, 10],
            "label": "Clase 27, págs. 9–10", "text": "La regularización L2 <penaliza> los pesos & más."}


def test_searching_text_names_the_sources_and_the_place_in_line():
    retrieved = Retrieved([hit("Clase 27"), hit("Clase 27"), hit("Taller 3", "cell", 2, 2)], [], 12.0)
    assert searching_text(retrieved) == "🔎 Buscando en: Clase 27, págs. 9–10; Taller 3, celda 2"
    retrieved.queue_position = 2
    assert searching_text(retrieved).endswith("\n⏳ Hay 2 preguntas antes que la tuya.")
    assert searching_text(Retrieved([], [], 1.0)).startswith("🔎 No encontré nada")


def test_answers_are_escaped_html_with_a_fuentes_list():
    [text] = answer_messages(result("Usa <b> & x<y [1].", [CITATION]))
    assert text == "Usa &lt;b&gt; &amp; x&lt;y [1].\n\n<b>Fuentes</b>\n[1] Clase 27, págs. 9–10"
    plain, entities = parse_html(text)
    assert plain.startswith("Usa <b> & x<y [1].") and entities == [{"type": "bold", "offset": 20, "length": 7}]


def test_declined_answers_have_no_fuentes():
    [text] = answer_messages(result("No encuentro esa información.", abstained=True))
    assert text == "🤷 No encuentro esa información." and "Fuentes" not in text


def test_long_answers_split_cleanly_into_valid_messages():
    sentence = "La validación cruzada usa k particiones & promedia <errores>. "
    answer = sentence * 200 + "\n\n" + "x" * 5000  # 12,000+ characters, and one word longer than a message
    messages = answer_messages(result(answer, [CITATION]))
    assert len(messages) >= 4
    rebuilt = []
    for message in messages:
        assert len(message) <= MAX_MESSAGE
        plain, _ = parse_html(message)  # valid Telegram HTML, each on its own
        rebuilt.append(plain)
    assert messages[-1].endswith("<b>Fuentes</b>\n[1] Clase 27, págs. 9–10")
    assert "".join(rebuilt).replace("\n", "").replace(" ", "").startswith(sentence.replace(" ", "") * 3)
    assert all(not m.startswith(" ") for m in messages)
    # sentences are not cut in the middle when a sentence boundary is available
    assert messages[0].endswith("&lt;errores&gt;.")


def test_split_plain_respects_the_escaped_length():
    pieces = split_plain("&" * 3000, limit=1000)  # each "&" becomes "&amp;" (5 characters)
    assert [len(p) for p in pieces] == [200] * 15


def test_pack_joins_blocks_up_to_the_limit():
    assert pack(["a" * 10, "b" * 10, "c" * 10], limit=22) == ["a" * 10 + "\n\n" + "b" * 10, "c" * 10]
    assert pack(["", "x"], limit=5) == ["x"]


def test_streaming_text_shows_the_newest_part_within_the_limit():
    assert streaming_text("🔎 Buscando en: X", "") == "🔎 Buscando en: X"
    assert streaming_text("🔎 Buscando en: X", "Hola ") == "🔎 Buscando en: X\n\nHola ▌"
    long = streaming_text("h", "y" * 5000)
    assert len(long) == MAX_MESSAGE and long.startswith("…") and long.endswith("y ▌")


def test_passages_show_file_location_and_escaped_text():
    [text] = passages_messages([CITATION, {**CITATION, "n": 2, "text": "z " * 1000}])
    assert text.startswith("<b>[1] Clase 27, págs. 9–10</b>\n📁 <code>clases/Clase 27.pdf</code>\n<blockquote>"
                           "La regularización L2 &lt;penaliza&gt; los pesos &amp; más.</blockquote>")
    assert text.endswith(" …</blockquote>")
    parse_html(text)


def test_escalation_text_fits_and_escapes_even_huge_questions():
    text = escalation_text("Ana <3 (@ana, id 5)", "¿<b>?" * 2000, "respuesta & " * 2000)
    assert len(text) <= MAX_MESSAGE
    plain, _ = parse_html(text)
    assert plain.startswith("🙋 Pregunta para el equipo de Ana <3 (@ana, id 5)\n\nPregunta: ¿<b>?")
    assert plain.endswith("Responde a este mensaje y le haré llegar tu respuesta al estudiante.")
