"""bot/streaming.py: edits are throttled, never repeat the shown text, and survive flood control."""

from __future__ import annotations

import asyncio
import json

from telegram.ext import AIORateLimiter, ExtBot

from bot.streaming import StreamedReply
from tests.bot.emulator import TelegramEmulator
from tests.bot.test_app import STUDENT, TOKEN, EmulatorRequest


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FloodedRequest(EmulatorRequest):
    """Answers the next `floods` edits with Telegram's 429 "retry after"."""

    floods = 0

    async def do_request(self, url, method, request_data=None, *args, **kwargs):
        if url.endswith("/editMessageText") and self.floods:
            self.floods -= 1
            body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1}}
            return 429, json.dumps(body).encode()
        return await super().do_request(url, method, request_data, *args, **kwargs)


def run(scenario) -> TelegramEmulator:
    emu = TelegramEmulator(TOKEN)
    emu.add_chat(STUDENT)
    request = FloodedRequest(emu)

    async def main() -> None:
        # as the application builds its bot: every request through PTB's rate limiter (bot/app.py)
        async with ExtBot(TOKEN, request=request, get_updates_request=request,
                          rate_limiter=AIORateLimiter(max_retries=3)) as bot:
            placeholder = await bot.send_message(STUDENT, "⏳ un momento")
            await scenario(placeholder, request)

    asyncio.run(main())
    return emu


def test_edits_are_throttled_and_never_repeat_the_text():
    clock = Clock()

    async def scenario(placeholder, request):
        reply = StreamedReply(placeholder, interval=1.0, clock=clock)
        assert not await reply.show("⏳ un momento  ")  # what is shown, up to surrounding whitespace
        assert await reply.show("🔎 Buscando", force=True)  # forced: retrieval just ended
        clock.now += 0.5
        assert not await reply.show("🔎 Buscando\n\nHola")  # too soon
        clock.now += 0.5
        assert await reply.show("🔎 Buscando\n\nHola ▌")
        clock.now += 5
        assert not await reply.show("🔎 Buscando\n\nHola ▌\n")  # same text once trimmed
        await reply.finish("<b>Hola</b> [1]")
        await reply.finish("<b>Hola</b> [1]")  # "message is not modified" is not an error here
        assert reply.edits == 4

    emu = run(scenario)
    [message] = emu.bot_messages(STUDENT)
    assert [v["text"] for v in message["history"]] == ["⏳ un momento", "🔎 Buscando", "🔎 Buscando\n\nHola ▌"]
    assert message["text"] == "Hola [1]" and message["parse_mode"] == "HTML"


def test_flood_control_is_waited_out_and_every_edit_arrives():
    """Under flood control the rate limiter waits as Telegram says (retry_after) and sends the edit again."""
    clock = Clock()

    async def scenario(placeholder, request):
        reply = StreamedReply(placeholder, interval=1.0, clock=clock)
        request.floods = 1
        assert await reply.show("parcial", force=True)  # refused once, sent after the 1 s wait
        clock.now += 0.5
        assert not await reply.show("parcial 2")  # too soon after the last edit
        clock.now += 0.6
        assert await reply.show("parcial 3")
        request.floods = 2
        await reply.finish("final")  # refused twice, then edited

    emu = run(scenario)
    [message] = emu.bot_messages(STUDENT)
    assert [v["text"] for v in message["history"]] == ["⏳ un momento", "parcial", "parcial 3"]
    assert message["text"] == "final"


def test_an_edit_still_refused_after_the_retries_is_skipped_while_streaming():
    clock = Clock()

    async def scenario(placeholder, request):
        reply = StreamedReply(placeholder, interval=1.0, clock=clock)
        request.floods = 4  # the first attempt and all three retries
        assert not await reply.show("parcial", force=True)
        assert await reply.show("parcial 2", force=True)

    emu = run(scenario)
    assert emu.bot_messages(STUDENT)[0]["text"] == "parcial 2"
