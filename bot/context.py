"""What handlers reach through `context` (PTB's contexttypesbot.py pattern): typed services, no globals."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from telegram.ext import CallbackContext, ExtBot

from knowledge.core import Knowledge

from .limits import Conversations, RateLimiter
from .settings import BotSettings
from .tables import Database, admin_ids

T = TypeVar("T")
IO_THREADS = 8  # database writes, retrieval, file moves: short blocking calls, never a wait for the model


@dataclass
class Services:
    """Everything the handlers share, built once by `build_application`."""

    settings: BotSettings
    knowledge: Knowledge
    limiter: RateLimiter
    conversations: Conversations
    admins: set[int] = field(default_factory=set)
    db: Database | None = None  # set in post_init, once the database is reachable
    known_users: set[int] = field(default_factory=set)  # users already recorded by this process
    leader: bool = False  # this worker holds the scheduler lease: it runs the scheduled refresh (bot/jobs.py)
    indexing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one upload/refresh/delete at a time
    escalating: asyncio.Lock = field(default_factory=asyncio.Lock)  # a staff reply waits until its row is saved
    owns_knowledge: bool = False  # opened by post_init, so closed by post_shutdown
    # the bot's own threads for blocking calls: a question waiting for the model holds none of them (nor any of
    # asyncio's default executor), so /start and database writes go on while students queue
    io: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(IO_THREADS, thread_name_prefix="coursebot-io"))

    @classmethod
    def build(cls, settings: BotSettings, knowledge: Knowledge) -> Services:
        sessions = knowledge.sessions
        return cls(settings, knowledge, RateLimiter(sessions, settings.rate_per_minute, settings.rate_per_day),
                   Conversations(sessions, settings.history_turns), admins=set(settings.admin_ids))

    async def reload_admins(self) -> set[int]:
        """The admins now: ADMIN_IDS and the roles in the database, which any worker may have changed."""
        self.admins = set(self.settings.admin_ids) | await self.database.run(admin_ids)
        return self.admins

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """fn(*args, **kwargs) on the I/O executor, awaited."""
        return await asyncio.get_running_loop().run_in_executor(self.io, functools.partial(fn, *args, **kwargs))

    @property
    def database(self) -> Database:
        if self.db is None:
            raise RuntimeError("the database is opened in post_init; the application was not initialized")
        return self.db


class BotData:
    """`application.bot_data`: holds the services (set by `build_application`)."""

    services: Services


class CourseContext(CallbackContext[ExtBot, dict, dict, BotData]):
    """`context.services`, `context.knowledge` and `context.db` for every handler."""

    @property
    def services(self) -> Services:
        return self.bot_data.services

    @property
    def knowledge(self) -> Knowledge:
        return self.bot_data.services.knowledge

    @property
    def db(self) -> Database:
        return self.bot_data.services.database
