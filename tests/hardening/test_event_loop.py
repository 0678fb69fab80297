"""Issue 22, "the event loop stays free under load": through the bot, while 20 students' questions wait for the one
generator, a new user's /start and /fuentes are answered, a latecomer's question is searched at once, and asyncio's
default executor — where PTB's HTTP client resolves api.telegram.org for every new connection (httpx → anyio →
`loop.getaddrinfo`) — still serves.

Regression: `Ticket.__aiter__` waited for each token in `asyncio.to_thread`, so every queued question held one of
the default executor's min(32, cpus + 4) threads until its answer was written, and anything else sent there waited
behind the queue.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.handlers.questions import PLACEHOLDER
from knowledge.answer.generation import Completion
from tests.bot.test_app import Harness, indexed_course, play

STUDENTS = list(range(30_000, 30_020))
NEWCOMER, LATECOMER = 40_000, 40_001
QUESTION = "¿Cuánto vale el proyecto final en la nota?"
WORDS, WORD_SECONDS = 6, 0.17  # about 1 s per answer: 20 queued answers take 20 s
LIMITS = {"/start": 2.0, "/fuentes": 2.0, "latecomer searched": 2.0, "default executor": 1.0}  # seconds


def slow_stream(messages, max_tokens, on_token, temperature=0.1) -> Completion:
    """The generator at about 1 s an answer: the first words of source [1], cited, a word at a time."""
    source = messages[-1]["content"].split("\n\n")[1].split("\n", 1)[1]  # "[1] label\ntext"
    text = " ".join(source.split()[:WORDS]) + " [1]."
    for word in text.split(" "):
        time.sleep(WORD_SECONDS)
        on_token(word + " ")
    return Completion(text, 100, 0, WORDS, WORD_SECONDS * 1000, WORDS * WORD_SECONDS * 1000)


def versions(message: dict) -> list[str]:
    return [v["text"] for v in message["history"]] + [message["text"]]


def searched(h: Harness, user: int) -> bool:
    """The placeholder in `user`'s chat shows what was found: the question is in the generation queue."""
    return any(v.startswith("🔎 Buscando en:") for m in h.emu.bot_messages(user) for v in versions(m))


async def timed(awaitable) -> float:
    started = time.monotonic()
    await awaitable
    return time.monotonic() - started


def assert_one_final_answer(h: Harness, user: int) -> None:
    """One message in the chat: the placeholder, edited (streamed) into the final HTML answer with its buttons."""
    [answer] = h.emu.bot_messages(user)
    assert versions(answer)[0] == PLACEHOLDER
    assert answer["parse_mode"] == "HTML" and answer["reply_markup"], versions(answer)
    assert "Fuentes" in answer["text"] and "[1] programa" in answer["text"], answer["text"]


@pytest.mark.timeout(300)
def test_commands_and_new_questions_are_served_while_twenty_questions_wait_for_the_model(weaviate_server, tmp_path,
                                                                                         monkeypatch):
    with indexed_course(weaviate_server, tmp_path, only=("programa.md",), edit_interval=1.0) as (settings, kb):
        monkeypatch.setattr(kb.generator, "stream", slow_stream)
        queue = kb.answerer.queue

        async def scenario(h: Harness) -> None:
            asking = [asyncio.create_task(h.send_text(user, QUESTION)) for user in STUDENTS]
            await h.emu.wait_for_async(lambda e: all(searched(h, user) for user in STUDENTS), timeout=30)
            assert queue.waiting >= 15, "the questions should be waiting for the model"

            waits = {"/start": await timed(h.send_text(NEWCOMER, "/start", first_name="Nueva")),
                     "/fuentes": await timed(h.send_text(NEWCOMER, "/fuentes"))}
            late = asyncio.create_task(h.send_text(LATECOMER, QUESTION))
            waits["latecomer searched"] = await timed(
                h.emu.wait_for_async(lambda e: searched(h, LATECOMER), timeout=60, interval=0.05))
            waits["default executor"] = await timed(asyncio.get_running_loop().getaddrinfo("127.0.0.1", 443))
            print(f"\nwith {queue.waiting} questions waiting for the model: {waits}")
            assert {k: round(v, 2) for k, v in waits.items() if v > LIMITS[k]} == {}, waits
            assert queue.waiting >= 10, f"the line emptied while we measured: {waits}"
            start, sources = h.texts(NEWCOMER)
            assert start.startswith("¡Hola, Nueva!") and "programa.md" in sources

            await asyncio.gather(*asking, late)
            for user in [*STUDENTS, LATECOMER]:
                assert_one_final_answer(h, user)

        play(settings, kb, scenario, timeout=240, chats=(*STUDENTS, NEWCOMER, LATECOMER))
        assert queue.served == len(STUDENTS) + 1
