"""One bot message edited while an answer streams in.

At most one edit per `interval` (Telegram rate-limits edits, about one a second per chat and twenty a minute per
group) and never the same text twice: Telegram refuses that with "message is not modified". It compares the text
after trimming surrounding whitespace, so do we. Every edit goes through the application's rate limiter (PTB's
AIORateLimiter, bot/app.py), which paces requests per chat and waits out flood control (RetryAfter) before trying
again; an edit still refused after its retries is skipped while streaming (the next one carries the text).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable

from telegram import InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter

log = logging.getLogger(__name__)
GROUP_INTERVAL = 3.0  # seconds between streaming edits in a group: Telegram allows about 20 messages a minute


def _seconds(value: int | float | dt.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class StreamedReply:
    def __init__(self, message: Message, interval: float, clock: Callable[[], float] = time.monotonic):
        self.message, self.interval, self.clock = message, interval, clock
        self.shown = (message.text or "").strip()
        self.next_edit = clock() + interval
        self.edits = 0

    async def show(self, text: str, force: bool = False) -> bool:
        """Show plain `text` unless it is what is shown or (unless forced) the last edit was too recent."""
        if text.strip() == self.shown:
            return False
        now = self.clock()
        if not force and now < self.next_edit:
            return False
        try:
            await self.message.edit_text(text)
        except RetryAfter as e:  # flood control: skip this update, the next one carries the text
            self.next_edit = self.clock() + _seconds(e.retry_after)
            log.info("edits paused for %.0f s by flood control", _seconds(e.retry_after))
            return False
        # the interval runs from when the edit got through: in a busy group the rate limiter may have held it for
        # many seconds, and counting from before would make every next token another edit (one token per wait)
        self.shown, self.next_edit = text.strip(), self.clock() + self.interval
        self.edits += 1
        return True

    async def finish(self, html: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """The final version, in HTML, with its keyboard (the rate limiter waits out flood control: it must arrive)."""
        await self._edit_html(html, markup)
        self.edits += 1

    async def _edit_html(self, html: str, markup: InlineKeyboardMarkup | None) -> None:
        try:
            await self.message.edit_text(html, parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as e:
            if "not modified" not in str(e).lower():
                raise
