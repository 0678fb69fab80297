"""bot/limits.py: sliding-window rate limits and bounded conversation memory (pure, with a fake clock)."""

from __future__ import annotations

from bot.limits import Conversations, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_per_minute_limit_slides_and_refusals_do_not_count():
    clock = Clock()
    limiter = RateLimiter(per_minute=2, per_day=100, clock=clock)
    assert limiter.check(1).allowed and limiter.check(1).allowed
    refused = limiter.check(1)
    assert not refused.allowed and refused.window == "minute" and refused.retry_after == 60.0
    assert limiter.check(2).allowed  # per student
    clock.now += 30
    assert limiter.check(1).retry_after == 30.0
    clock.now += 30
    assert limiter.check(1).allowed  # the first question left the window; refused ones never counted


def test_per_day_limit():
    clock = Clock()
    limiter = RateLimiter(per_minute=5, per_day=3, clock=clock)
    for _ in range(3):
        assert limiter.check(1).allowed
        clock.now += 61
    refused = limiter.check(1)
    assert not refused.allowed and refused.window == "day"
    assert refused.retry_after == 86400 - 3 * 61
    clock.now += refused.retry_after
    assert limiter.check(1).allowed


def test_limiter_memory_is_bounded():
    limiter = RateLimiter(per_minute=1, per_day=1, clock=Clock(), max_users=3)
    for user in range(10):
        limiter.check(user)
    assert len(limiter) == 3


def test_conversations_keep_the_last_turns_per_chat_and_user():
    memory = Conversations(turns=2, max_conversations=2)
    for n in range(3):
        memory.add(10, 1, f"q{n}", f"a{n}")
    memory.add(10, 2, "otra", "respuesta")
    assert memory.history(10, 1) == [("q1", "a1"), ("q2", "a2")]
    assert memory.history(10, 2) == [("otra", "respuesta")]
    memory.add(20, 1, "grupo", "r")  # a third conversation evicts the least recently used one
    assert memory.history(10, 1) == []
    assert memory.forget(20, 1) and not memory.forget(20, 1)
    off = Conversations(turns=0)
    off.add(1, 1, "q", "a")
    assert off.history(1, 1) == []
