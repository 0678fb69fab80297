"""Load: many students at once against the real bot — PTB long polling the Bot API emulator over HTTP, real
retrieval on the session Weaviate server, the tiny model behind the one generation queue.

Regular students ask one question at a time (each waits for the answer before the next, as people do);
greedy students fire more than the per-minute limit at once. Checked, for every question message: exactly one
outcome (a final answer, or the rate-limit message for a greedy student's extra questions), never two; no
placeholder left behind; one stored answer per accepted question; no update left unconfirmed.

Fairness. The generation queue must be strictly first come first served (the order generations start equals
the order questions entered the queue). With students asking one at a time the queue then moves in rounds:
a question waits behind at most one question of each other regular student, and every k-th question starts
before anyone's (k+2)-th — in particular no student's first question waits behind another student's third.
Greedy students get ahead of no one by more than the rate limit lets them queue, and the place in line a
student is shown stays below how many questions can wait at once (one per regular student, LIMIT per greedy one).

Speed is reported, not asserted: answers per minute through the bot against the generator's raw serial rate,
measured in the same test on the very prompts the bot generated (`pytest -s` prints both).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter, defaultdict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from bot.app import build_application
from bot.settings import BotSettings
from bot.tables import Answer
from knowledge.core import Knowledge
from tests.bot.emulator import TelegramEmulator
from tests.bot.test_app import TOKEN, indexed_course

QUESTIONS = ["¿Cuánto vale el proyecto final en la nota?", "¿Qué pasa si entrego tarde un taller?",
             "¿Cuándo es el horario de atención de la profesora?"]
LIMIT = 4  # questions per minute per student: the regular students' 3 pass, the greedy ones' bursts do not
SLOW_DOWN = "🐢 Vas muy rápido"
TAG = re.compile(r"\(consulta (\d+) de (\d+)\)")
AHEAD = re.compile(r"⏳ Hay (\d+) preguntas? antes que la tuya")


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    """The sample course in its own collection, the tiny model with 24-token answers, abstention off."""
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("load"), rate_per_minute=LIMIT,
                        edit_interval=1.0) as (settings, kb):
        yield settings, kb


@dataclass
class Trace:
    """What the answer pipeline did, in order: questions entering the generation queue, generations starting."""

    submitted: list[tuple[int, int]] = field(default_factory=list)  # (student, k), in queue order
    started: list[tuple[int, int]] = field(default_factory=list)  # (student, k), in generation order
    prompts: list[list[dict]] = field(default_factory=list)  # the messages of each generation
    events: list[tuple[str, tuple[int, int]]] = field(default_factory=list)  # ("submit" | "start", tag)
    lock: threading.Lock = field(default_factory=threading.Lock)


def tag_of(text: str) -> tuple[int, int]:
    """(student, k) of the question in `text` (the last tag: a prompt quotes earlier questions first)."""
    k, student = TAG.findall(text)[-1]
    return int(student), int(k)


def trace_pipeline(kb: Knowledge, monkeypatch) -> Trace:
    trace = Trace()
    answerer, generator = kb.answerer, kb.generator
    real_submit, real_stream = answerer.submit, generator.stream

    def submit(question, *rest):  # called on the event loop, in the order questions are queued
        with trace.lock:
            trace.submitted.append(tag_of(question))
            trace.events.append(("submit", tag_of(question)))
            return real_submit(question, *rest)

    def stream(messages, max_tokens, on_token, **kwargs):  # called by the queue's one worker thread
        with trace.lock:
            trace.started.append(tag_of(messages[-1]["content"]))
            trace.events.append(("start", trace.started[-1]))
            trace.prompts.append(messages)
        return real_stream(messages, max_tokens, on_token, **kwargs)

    monkeypatch.setattr(answerer, "submit", submit)
    monkeypatch.setattr(generator, "stream", stream)
    return trace


@asynccontextmanager
async def live_bot(settings: BotSettings, kb: Knowledge):
    """The Application polling the emulator over HTTP, as `run_polling` runs it (post_init included)."""
    app = build_application(settings, kb)
    await app.initialize()
    await app.post_init(app)
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.post_shutdown(app)
        await app.shutdown()


def is_final(message: dict) -> bool:
    return bool(message["reply_markup"]) and message["parse_mode"] == "HTML"


@dataclass
class LoadRun:
    regular: list[int]  # students asking one question at a time
    greedy: list[int]  # students sending LIMIT + 2 questions at once
    questions: int  # per regular student
    asked: dict[int, list[dict]]  # student -> their question messages, in order
    seconds: float  # first question sent -> last answer in
    messages: dict[int, list[dict]]  # student -> the bot's messages in their chat
    pending: list[dict]  # updates the bot never confirmed
    rows: list[tuple[int, int]]  # stored answers: (chat, question message id)
    trace: Trace


async def crowd(emu: TelegramEmulator, regular: list[int], questions: int, greedy: list[int],
                timeout: float) -> dict[int, list[dict]]:
    """Regular students ask `questions` questions one after another; greedy ones send LIMIT + 2 at once."""
    asked: dict[int, list[dict]] = defaultdict(list)

    def ask(user_id: int, k: int) -> None:
        asked[user_id].append(emu.send_text(user_id, f"{QUESTIONS[(k - 1) % 3]} (consulta {k} de {user_id})"))

    async def finals(user_id: int, count: int) -> None:
        await emu.wait_for_async(lambda e: sum(map(is_final, e.bot_messages(user_id))) >= count, timeout,
                                 interval=0.25)

    async def student(user_id: int) -> None:
        for k in range(1, questions + 1):
            ask(user_id, k)
            await finals(user_id, k)

    async def greedy_student(user_id: int) -> None:
        for k in range(1, LIMIT + 3):
            ask(user_id, k)
        await finals(user_id, LIMIT)

    await asyncio.gather(*map(student, regular), *map(greedy_student, greedy))
    return dict(asked)


def run_load(settings: BotSettings, kb: Knowledge, monkeypatch, students: int, questions: int, greedy: int,
             timeout: float) -> LoadRun:
    """The crowd against the bot, which polls a fresh emulator over HTTP; returns everything the checks need."""
    trace = trace_pipeline(kb, monkeypatch)
    regular = [10_000 + i for i in range(students)]
    greedy_ids = [20_000 + i for i in range(greedy)]
    with kb.sessions() as s:
        stored_before = s.scalar(select(Answer.id).order_by(Answer.id.desc()).limit(1)) or 0
    emu = TelegramEmulator(TOKEN).start_in_thread()
    try:
        live = settings.model_copy(update={"telegram_api_base_url": f"{emu.base_url}/bot",
                                           "telegram_file_base_url": f"{emu.base_url}/file/bot"})

        async def main() -> tuple[dict[int, list[dict]], float]:
            async with live_bot(live, kb):
                started = time.monotonic()
                asked = await crowd(emu, regular, questions, greedy_ids, timeout)
                return asked, time.monotonic() - started

        asked, seconds = asyncio.run(main())
        pending = emu.pending_updates()  # read after the updater's last getUpdates confirmed what it got
        messages = {user: emu.bot_messages(user) for user in regular + greedy_ids}
    finally:
        emu.stop_thread()
    with kb.sessions() as s:
        rows = [(a.chat_id, a.question_message_id) for a in s.scalars(select(Answer).where(Answer.id > stored_before))]
    return LoadRun(regular, greedy_ids, questions, asked, seconds, messages, pending, rows, trace)


def assert_one_outcome_per_question(run: LoadRun) -> None:
    """Regular students: every question answered, once. Greedy ones: LIMIT answered, the rest refused."""
    assert run.pending == [], "updates the bot never confirmed"
    for user in run.regular + run.greedy:
        finals = [m for m in run.messages[user] if is_final(m)]
        refusals = [m for m in run.messages[user] if m["text"].startswith(SLOW_DOWN)]
        assert len(finals) + len(refusals) == len(run.messages[user]), f"a placeholder or an apology left in {user}"
        expected = run.questions if user in run.regular else LIMIT
        assert (len(finals), len(refusals)) == (expected, len(run.asked[user]) - expected), user
        assert all(f"hasta {LIMIT} preguntas por minuto" in m["text"] for m in refusals)
    sent = {(user, m["message_id"]) for user, asked in run.asked.items() for m in asked}
    assert len(run.rows) == len(set(run.rows)), "a question was answered twice"
    assert {(user, m["message_id"]) for user in run.regular for m in run.asked[user]} <= set(run.rows) <= sent
    assert len(run.rows) == len(run.regular) * run.questions + len(run.greedy) * LIMIT


def assert_fair(run: LoadRun) -> int:
    """Strict FIFO, rounds among regular students, bounded head starts; returns the largest place in line shown."""
    trace = run.trace
    assert trace.started == trace.submitted, "the generation queue served out of order"
    rank = {tag: i for i, tag in enumerate(trace.started)}
    for k in range(1, run.questions - 1):
        last_kth = max(rank[(u, k)] for u in run.regular)
        first_later = min(rank[(u, k + 2)] for u in run.regular)
        assert last_kth < first_later, f"a question {k} waited behind a question {k + 2}"
    in_queue: list[tuple[int, int]] = []
    for event, tag in trace.events:  # who was ahead of each question when it entered the queue
        if event == "start":
            in_queue.remove(tag)
            continue
        ahead = Counter(student for student, _ in in_queue)
        assert all(n <= 1 for student, n in ahead.items() if student in run.regular), (tag, ahead)
        assert all(n <= LIMIT for n in ahead.values()), (tag, ahead)
        in_queue.append(tag)
    shown = [int(n) for messages in run.messages.values() for m in messages
             for v in m["history"] for n in AHEAD.findall(v["text"])]
    assert max(shown, default=0) < len(run.regular) + len(run.greedy) * LIMIT
    return max(shown, default=0)


def report_speed(run: LoadRun, kb: Knowledge, max_tokens: int) -> None:
    """Answers per minute through the bot against the same generations run serially on the generator."""
    generate = type(kb.generator).stream  # not the traced one
    started = time.monotonic()
    for prompt in run.trace.prompts:
        generate(kb.generator, prompt, max_tokens, lambda piece: None)
    serial = time.monotonic() - started
    bot_rate, raw_rate = len(run.rows) / run.seconds * 60, len(run.trace.prompts) / serial * 60
    print(f"\n{len(run.regular)} students x {run.questions} questions + {len(run.greedy)} greedy: "
          f"{len(run.rows)} answers in {run.seconds:.1f} s = {bot_rate:.1f} answers/min through the bot; "
          f"the generator alone: {len(run.trace.prompts)} generations in {serial:.1f} s = {raw_rate:.1f}/min "
          f"serially (bot/raw = {bot_rate / raw_rate:.2f})")


@pytest.mark.timeout(400)
def test_a_class_at_once_small(course, monkeypatch):
    """The CI variant: 5 students x 2 questions and one greedy student."""
    settings, kb = course
    run = run_load(settings, kb, monkeypatch, students=5, questions=2, greedy=1, timeout=240)
    assert_one_outcome_per_question(run)
    assert_fair(run)
    report_speed(run, kb, settings.max_answer_tokens)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_fifty_students_three_questions_each(course, monkeypatch):
    """150 questions from 50 students asking one at a time, plus two greedy students."""
    settings, kb = course
    run = run_load(settings, kb, monkeypatch, students=50, questions=3, greedy=2, timeout=1200)
    assert_one_outcome_per_question(run)
    print(f"\nplaces in line shown up to {assert_fair(run)}")
    report_speed(run, kb, settings.max_answer_tokens)


@pytest.mark.timeout(300)
def test_flood_control_in_a_busy_group_every_answer_arrives_complete(course):
    """Telegram answers 429 "retry after" once a group got N messages in a minute; the bot's requests all go through
    PTB's rate limiter, which waits as told and sends again, so every student's answer still arrives, whole.
    The emulator's "minute" lasts four seconds here (longer than an answer), and it announces the wait honestly."""
    settings, kb = course
    students, group = [30_000 + i for i in range(5)], -100_999
    emu = TelegramEmulator(TOKEN).start_in_thread()
    emu.flood_control(per_group_per_minute=4, retry_after=4, window=4.0)
    try:
        live = settings.model_copy(update={"telegram_api_base_url": f"{emu.base_url}/bot",
                                           "telegram_file_base_url": f"{emu.base_url}/file/bot"})
        for student in students:
            emu.add_chat(student, group, "supergroup", title="Curso")

        async def main() -> None:
            async with live_bot(live, kb):
                for n, student in enumerate(students):
                    emu.send_text(student, f"@coursebot_test {QUESTIONS[n % len(QUESTIONS)]}", chat_id=group)
                await emu.wait_for_async(lambda e: sum(map(is_final, e.bot_messages(group))) >= len(students),
                                         timeout=240, interval=0.25)

        asyncio.run(main())
        messages, refusals = emu.bot_messages(group), emu.flood_refusals
    finally:
        emu.stop_thread()
    assert refusals, "flood control never refused anything: the test would prove nothing"
    finals = [m for m in messages if is_final(m)]
    assert len(finals) == len(messages) == len(students)  # one answer each, no apology, no placeholder left
    assert all("Fuentes" in m["text"] or m["text"].startswith("🤷") for m in finals), [m["text"] for m in finals]
    assert sorted(m["reply_to_message_id"] for m in finals) == sorted({m["reply_to_message_id"] for m in finals})
