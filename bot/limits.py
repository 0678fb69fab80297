"""Per-student limits and memory, kept in the process and bounded (pure; the clock is injectable)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

MINUTE, DAY = 60.0, 86400.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the next question is allowed
    window: str = ""  # "minute" | "day": which limit was hit


class RateLimiter:
    """Sliding windows: at most `per_minute` questions in any 60 s and `per_day` in any 24 h, per student."""

    def __init__(self, per_minute: int, per_day: int, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 100_000):
        self.per_minute, self.per_day, self.clock, self.max_users = per_minute, per_day, clock, max_users
        self._asked: OrderedDict[int, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """Students currently tracked."""
        return len(self._asked)

    def check(self, user_id: int) -> Verdict:
        """Count a question if it is allowed; a refused one does not count."""
        now = self.clock()
        asked = self._asked.pop(user_id, None) or deque()
        while asked and now - asked[0] >= DAY:
            asked.popleft()
        self._asked[user_id] = asked  # most recently active last
        while len(self._asked) > self.max_users:
            self._asked.popitem(last=False)
        recent = [t for t in asked if now - t < MINUTE]
        if len(recent) >= self.per_minute:
            return Verdict(False, MINUTE - (now - recent[-self.per_minute]), "minute")
        if len(asked) >= self.per_day:
            return Verdict(False, DAY - (now - asked[-self.per_day]), "day")
        asked.append(now)
        return Verdict(True)


class Conversations:
    """The last few (question, answer) turns per chat and user, for follow-up questions."""

    def __init__(self, turns: int, max_conversations: int = 10_000):
        self.turns, self.max_conversations = turns, max_conversations
        self._turns: OrderedDict[tuple[int, int], deque[tuple[str, str]]] = OrderedDict()

    def history(self, chat_id: int, user_id: int) -> list[tuple[str, str]]:
        return list(self._turns.get((chat_id, user_id), ()))

    def add(self, chat_id: int, user_id: int, question: str, answer: str) -> None:
        if self.turns <= 0:
            return
        key = (chat_id, user_id)
        turns = self._turns.pop(key, None) or deque(maxlen=self.turns)
        turns.append((question, answer))
        self._turns[key] = turns
        while len(self._turns) > self.max_conversations:
            self._turns.popitem(last=False)

    def forget(self, chat_id: int, user_id: int) -> bool:
        return self._turns.pop((chat_id, user_id), None) is not None
