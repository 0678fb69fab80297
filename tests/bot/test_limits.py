"""bot/limits.py: sliding-window rate limits and bounded conversation memory, in the shared database (SQLite and
PostgreSQL), with a fake clock; two limiters on one database behave as one, and a restart keeps both."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bot.limits import Conversations, RateLimiter, verdict
from bot.tables import Asked, Turn
from knowledge.answer.prompt import Exchange
from knowledge.database import make_sessionmaker


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_windows_are_pure_arithmetic():
    assert verdict([], 100.0, 1, 1).allowed
    assert verdict([50.0], 100.0, 1, 5) == verdict([50.0], 100.0, 1, 5)
    minute = verdict([50.0, 70.0], 100.0, 2, 5)
    assert (minute.allowed, minute.window, minute.retry_after) == (False, "minute", 10.0)
    day = verdict([0.0, 10.0], 100.0, 5, 2)
    assert (day.allowed, day.window, day.retry_after) == (False, "day", 86400 - 100.0)


def test_per_minute_limit_slides_and_refusals_do_not_count(database_url):
    clock = Clock()
    limiter = RateLimiter(make_sessionmaker(database_url), per_minute=2, per_day=100, clock=clock)
    assert limiter.check(1).allowed and limiter.check(1).allowed
    refused = limiter.check(1)
    assert not refused.allowed and refused.window == "minute" and refused.retry_after == 60.0
    assert limiter.check(2).allowed  # per student
    clock.now += 30
    assert limiter.check(1).retry_after == 30.0
    clock.now += 30
    assert limiter.check(1).allowed  # the first question left the window; refused ones never counted


def test_per_day_limit_and_old_questions_are_forgotten(database_url):
    clock, sessions = Clock(), make_sessionmaker(database_url)
    limiter = RateLimiter(sessions, per_minute=5, per_day=3, clock=clock)
    for _ in range(3):
        assert limiter.check(1).allowed
        clock.now += 61
    refused = limiter.check(1)
    assert not refused.allowed and refused.window == "day"
    assert refused.retry_after == 86400 - 3 * 61
    clock.now += refused.retry_after
    assert limiter.check(1).allowed
    with sessions() as s:  # the question that left the day window was deleted: the table stays bounded
        assert s.scalar(select(func.count()).select_from(Asked).where(Asked.sender == 1)) == 3


def test_two_workers_share_one_window_and_a_restart_keeps_it(database_url):
    """Twelve questions at once, split across two limiters (two workers) on one database: exactly five pass."""
    clock = Clock()
    workers = [RateLimiter(make_sessionmaker(database_url), per_minute=5, per_day=100, clock=clock)
               for _ in range(2)]
    verdicts, barrier = [], threading.Barrier(12)

    def ask(limiter: RateLimiter) -> None:
        barrier.wait()
        verdicts.append(limiter.check(7).allowed)

    threads = [threading.Thread(target=ask, args=(workers[i % 2],)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts) == [False] * 7 + [True] * 5
    restarted = RateLimiter(make_sessionmaker(database_url), per_minute=5, per_day=100, clock=clock)
    assert restarted.check(7).window == "minute"


def test_conversations_keep_the_last_turns_per_chat_and_user(database_url):
    sessions = make_sessionmaker(database_url)
    memory = Conversations(sessions, turns=2)
    prompt = ({"role": "user", "content": "Fuentes: …\n\nPregunta: q2"},)
    for n in range(3):
        memory.add(10, 1, Exchange(f"q{n}", f"a{n}", prompt if n == 2 else ()))
    memory.add(10, 2, Exchange("otra", "respuesta"))
    kept = [Exchange("q1", "a1"), Exchange("q2", "a2", prompt)]  # the prompt comes back as it was given
    assert memory.history(10, 1) == kept
    assert memory.history(10, 2) == [Exchange("otra", "respuesta")]
    with sessions() as s:  # older turns are deleted, not only hidden
        assert s.scalar(select(func.count()).select_from(Turn).where(Turn.user_id == 1)) == 2
    other_worker = Conversations(make_sessionmaker(database_url), turns=2)
    assert other_worker.history(10, 1) == kept  # another worker, or after a restart
    assert other_worker.forget(10, 1) and not memory.forget(10, 1)
    assert memory.history(10, 1) == []
    off = Conversations(sessions, turns=0)
    off.add(1, 1, Exchange("q", "a"))
    assert off.history(1, 1) == []
