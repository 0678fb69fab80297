"""Per-student limits and conversation memory, kept in the shared database so every worker behind a proxy
sees the same windows and the same turns, and a restart loses neither.

The window arithmetic is pure (`verdict`); `RateLimiter` and `Conversations` read and write it in one
transaction each (the clock is injectable). Each call blocks briefly: handlers run them on the I/O executor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from knowledge.answer.prompt import Exchange
from knowledge.database import serialize, with_retry

from .tables import Asked, Turn

MINUTE, DAY = 60.0, 86400.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0  # seconds until the next question is allowed
    window: str = ""  # "minute" | "day": which limit was hit


def verdict(asked: Sequence[float], now: float, per_minute: int, per_day: int) -> Verdict:
    """Whether one more question is allowed at `now`, given the times (ascending) of those asked in the last day."""
    recent = [t for t in asked if now - t < MINUTE]
    if len(recent) >= per_minute:
        return Verdict(False, MINUTE - (now - recent[-per_minute]), "minute")
    if len(asked) >= per_day:
        return Verdict(False, DAY - (now - asked[-per_day]), "day")
    return Verdict(True)


class RateLimiter:
    """Sliding windows: at most `per_minute` questions in any 60 s and `per_day` in any 24 h, per sender."""

    def __init__(self, sessions: sessionmaker[Session], per_minute: int, per_day: int,
                 clock: Callable[[], float] = time.time):
        self.sessions, self.per_minute, self.per_day, self.clock = sessions, per_minute, per_day, clock

    def check(self, sender: int) -> Verdict:
        """Count a question if it is allowed; a refused one does not count. Two workers checking the same
        sender at once take turns (`serialize`), so a burst split across workers is limited like one."""
        def transaction() -> Verdict:
            with self.sessions.begin() as s:
                serialize(s, f"asked:{sender}")
                now = self.clock()
                s.execute(delete(Asked).where(Asked.sender == sender, Asked.at <= now - DAY))  # bounded
                asked = list(s.scalars(select(Asked.at).where(Asked.sender == sender).order_by(Asked.at)))
                result = verdict(asked, now, self.per_minute, self.per_day)
                if result.allowed:
                    s.add(Asked(sender=sender, at=now))
                return result

        return with_retry(transaction)


class Conversations:
    """The last `turns` exchanges (question, answer, the prompt it answered) per chat and user, for follow-ups."""

    def __init__(self, sessions: sessionmaker[Session], turns: int):
        self.sessions, self.turns = sessions, turns

    def _run(self, fn: Callable[[Session], object]):
        def transaction():
            with self.sessions.begin() as s:
                return fn(s)
        return with_retry(transaction)

    def history(self, chat_id: int, user_id: int) -> list[Exchange]:
        if self.turns <= 0:
            return []
        rows = self._run(lambda s: s.execute(
            select(Turn.question, Turn.answer, Turn.prompt).where(Turn.chat_id == chat_id, Turn.user_id == user_id)
            .order_by(Turn.id.desc()).limit(self.turns)).all())
        return [Exchange(q, a, tuple(json.loads(p)) if p else ()) for q, a, p in reversed(rows)]

    def add(self, chat_id: int, user_id: int, exchange: Exchange) -> None:
        if self.turns <= 0:
            return
        prompt = json.dumps(list(exchange.prompt), ensure_ascii=False) if exchange.prompt else None

        def add_turn(s: Session) -> None:
            s.add(Turn(chat_id=chat_id, user_id=user_id, question=exchange.question, answer=exchange.answer,
                       prompt=prompt))
            s.flush()
            mine = (Turn.chat_id == chat_id) & (Turn.user_id == user_id)
            kept = list(s.scalars(select(Turn.id).where(mine).order_by(Turn.id.desc()).limit(self.turns)))
            s.execute(delete(Turn).where(mine, Turn.id.not_in(kept)))  # memory stays bounded

        self._run(add_turn)

    def forget(self, chat_id: int, user_id: int) -> bool:
        return self._run(lambda s: s.execute(
            delete(Turn).where(Turn.chat_id == chat_id, Turn.user_id == user_id)).rowcount > 0)
