"""The bot's tables (SQLAlchemy 2.0, on `knowledge.registry.Base`, same database as the source registry).

Plain functions take a `Session` and do one thing; `Database.run` calls them in a transaction off the
event loop, retrying while SQLite is locked (`knowledge.database.with_retry`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from knowledge.database import upsert, with_retry
from knowledge.registry import Base, utcnow

T = TypeVar("T")

STUDENT, ADMIN = "student", "admin"


class User(Base):
    __tablename__ = "bot_users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # Telegram user id
    role: Mapped[str] = mapped_column(String(20), default=STUDENT)
    name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Answer(Base):
    """A question and the answer the bot gave."""

    __tablename__ = "bot_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    question_message_id: Mapped[int] = mapped_column(Integer)  # the student's message
    answer_message_id: Mapped[int | None] = mapped_column(Integer)  # the bot's (first) answer message
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    citations: Mapped[list] = mapped_column(JSON, default=list)
    abstained: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(40), default="")
    timings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    __tablename__ = "bot_feedback"
    __table_args__ = (UniqueConstraint("answer_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("bot_messages.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[int] = mapped_column(Integer)  # +1 👍, -1 👎
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Escalation(Base):
    """A question forwarded to a staff member: their reply to `staff_message_id` goes back to the student."""

    __tablename__ = "bot_escalations"
    __table_args__ = (UniqueConstraint("staff_chat_id", "staff_message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("bot_messages.id", ondelete="CASCADE"), index=True)
    student_id: Mapped[int] = mapped_column(BigInteger)
    student_chat_id: Mapped[int] = mapped_column(BigInteger)
    student_message_id: Mapped[int] = mapped_column(Integer)
    staff_chat_id: Mapped[int] = mapped_column(BigInteger)
    staff_message_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Asked(Base):
    """A question a student was allowed to ask: the rate limits count these (bot/limits.py)."""

    __tablename__ = "bot_asked"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[int] = mapped_column(BigInteger, index=True)  # the user, or the chat an anonymous sender uses
    at: Mapped[float] = mapped_column(Float)  # seconds since the epoch: every worker's clock agrees


class Turn(Base):
    """One question and answer of a conversation, for follow-up questions (bot/limits.py)."""

    __tablename__ = "bot_turns"
    __table_args__ = (Index("ix_bot_turns_chat_id_user_id", "chat_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int] = mapped_column(BigInteger)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: the messages the answer continued


# -- users ------------------------------------------------------------------------------------------
def record_user(s: Session, user_id: int, name: str, username: str | None) -> None:
    """Create the user on first contact (keeping the role), refreshing the name."""
    upsert(s, User, {"id": user_id, "role": STUDENT, "name": name[:200], "username": username, "first_seen": utcnow()},
           key=["id"], update=["name", "username"])


def set_role(s: Session, user_id: int, role: str) -> None:
    upsert(s, User, {"id": user_id, "role": role, "name": "", "first_seen": utcnow()}, key=["id"], update=["role"])


def get_user(s: Session, user_id: int) -> User | None:
    return s.get(User, user_id)


def admin_ids(s: Session) -> set[int]:
    return set(s.scalars(select(User.id).where(User.role == ADMIN)))


# -- questions and answers --------------------------------------------------------------------------
def save_answer(s: Session, **fields: Any) -> int:
    row = Answer(**fields)
    s.add(row)
    s.flush()
    return row.id


def get_answer(s: Session, answer_id: int) -> Answer | None:
    return s.get(Answer, answer_id)


def set_feedback(s: Session, answer_id: int, user_id: int, value: int) -> None:
    """One vote per student and answer; voting again replaces the vote."""
    upsert(s, Feedback, {"answer_id": answer_id, "user_id": user_id, "value": value, "created_at": utcnow()},
           key=["answer_id", "user_id"], update=["value", "created_at"])


# -- escalations ------------------------------------------------------------------------------------
def save_escalation(s: Session, **fields: Any) -> None:
    """Record where a question was sent; a stale row for the same staff message (another bot token) is replaced."""
    stale = find_escalation(s, fields["staff_chat_id"], fields["staff_message_id"])
    if stale is not None:
        s.delete(stale)
        s.flush()
    s.add(Escalation(**fields))


def was_escalated(s: Session, answer_id: int) -> bool:
    return s.scalar(select(func.count()).where(Escalation.answer_id == answer_id)) > 0


def find_escalation(s: Session, staff_chat_id: int, staff_message_id: int) -> Escalation | None:
    return s.scalar(select(Escalation).where(Escalation.staff_chat_id == staff_chat_id,
                                             Escalation.staff_message_id == staff_message_id))


def mark_answered(s: Session, escalation_id: int) -> None:
    row = s.get(Escalation, escalation_id)
    if row is not None:
        row.answered_at = utcnow()


# -- reports ----------------------------------------------------------------------------------------
@dataclass
class Stats:
    users: int
    questions: int
    abstained: int
    thumbs_up: int
    thumbs_down: int
    escalations: int

    @property
    def abstention_rate(self) -> float:
        return self.abstained / self.questions if self.questions else 0.0


def stats(s: Session) -> Stats:
    votes = dict(s.execute(select(Feedback.value, func.count()).group_by(Feedback.value)).all())
    return Stats(users=s.scalar(select(func.count()).select_from(User)) or 0,
                 questions=s.scalar(select(func.count()).select_from(Answer)) or 0,
                 abstained=s.scalar(select(func.count()).where(Answer.abstained.is_(True))) or 0,
                 thumbs_up=votes.get(1, 0), thumbs_down=votes.get(-1, 0),
                 escalations=s.scalar(select(func.count()).select_from(Escalation)) or 0)


@dataclass
class Gap:
    question: str  # the most recent wording
    count: int
    declined: int
    disliked: int
    last_asked: datetime


def normalize_question(text: str) -> str:
    """The key that groups repeated questions: lowercase words only."""
    return " ".join(re.findall(r"\w+", text.lower()))


def knowledge_gaps(s: Session, limit: int = 20) -> list[Gap]:
    """Questions the bot declined or students disliked, most frequent first."""
    disliked = set(s.scalars(select(Feedback.answer_id).where(Feedback.value < 0)))
    rows = s.scalars(select(Answer).where(Answer.abstained.is_(True) | Answer.id.in_(disliked))
                     .order_by(Answer.created_at))
    gaps: dict[str, Gap] = {}
    for row in rows:
        key = normalize_question(row.question)
        gap = gaps.get(key) or Gap(row.question, 0, 0, 0, row.created_at)
        gap.question, gap.last_asked = row.question, row.created_at
        gap.count += 1
        gap.declined += row.abstained
        gap.disliked += row.id in disliked
        gaps[key] = gap
    return sorted(gaps.values(), key=lambda g: (-g.count, -g.last_asked.timestamp()))[:limit]


class Database:
    """The bot's view of the shared database; `run` works on `executor` (None: asyncio's default)."""

    def __init__(self, sessions: sessionmaker[Session], executor: Executor | None = None):
        self.sessions, self.executor = sessions, executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(session, *args, **kwargs) in one transaction, in a worker thread, retried while locked."""
        def transaction() -> T:
            with self.sessions.begin() as s:
                return fn(s, *args, **kwargs)

        return await asyncio.get_running_loop().run_in_executor(self.executor, with_retry, transaction)
