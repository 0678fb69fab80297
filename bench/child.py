"""The process `coursebot bench` measures the bot's peak RSS in (see bench/cli.py): it builds the Application as
`coursebot serve` does, with a dummy token and a Bot API answered in-process, and lets it answer questions.

    .venv/bin/python -m bench.child < config.json      # {"settings": {...}, "questions": [...]}
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time

from telegram import Update
from telegram.request import BaseRequest

from bench.measure import peak_rss_mb
from bot.app import build_application
from bot.settings import BotSettings
from knowledge.core import Knowledge

BOT = {"id": 1, "is_bot": True, "first_name": "coursebot", "username": "coursebot_bench_bot"}


class LocalBotApi(BaseRequest):
    """Minimal valid Bot API results, in-process: the handlers, streaming edits and database run as in
    production, and nothing is sent to Telegram."""

    def __init__(self):
        self.ids, self.answers = itertools.count(1000), 0

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data=None, *args, **kwargs) -> tuple[int, bytes]:
        api, params = url.rsplit("/", 1)[1], (request_data.parameters if request_data else {})
        result: object = True
        if api == "getMe":
            result = {**BOT, "can_join_groups": False, "can_read_all_group_messages": False,
                      "supports_inline_queries": False}
        elif api in ("sendMessage", "editMessageText"):
            if api == "editMessageText" and params.get("parse_mode") == "HTML":
                self.answers += 1  # the final, cited version of an answer
            result = {"message_id": params.get("message_id") or next(self.ids), "date": int(time.time()),
                      "chat": {"id": params["chat_id"], "type": "private"}, "from": BOT,
                      "text": params.get("text", "")}
        return 200, json.dumps({"ok": True, "result": result}).encode()


def serve_questions(config: dict) -> dict:
    """Build the Application, open what post_init opens, answer each question as a new student; peak RSS."""
    settings = BotSettings(**{**config["settings"], "telegram_bot_token": "0:bench", "admin_ids": [],
                              "refresh_interval_minutes": 0, "refresh_daily_at": None}, _env_file=None)
    api = LocalBotApi()

    async def main() -> None:
        application = build_application(settings, Knowledge(settings), api)
        await application.initialize()
        await application.post_init(application)  # opens the knowledge core, loads the model
        try:
            for n, question in enumerate(config["questions"], start=1):
                student = {"id": 5000 + n, "is_bot": False, "first_name": "Estudiante"}
                message = {"message_id": n, "date": int(time.time()), "text": question, "from": student,
                           "chat": {"id": student["id"], "type": "private", "first_name": "Estudiante"}}
                update = Update.de_json({"update_id": n, "message": message}, application.bot)
                await application.process_update(update)
        finally:
            await application.post_shutdown(application)
            await application.shutdown()

    asyncio.run(main())
    return {"peak_rss_mb": peak_rss_mb(), "answers": api.answers}


if __name__ == "__main__":  # config on stdin, the result on the last line of stdout
    print("BENCH_RESULT " + json.dumps(serve_questions(json.load(sys.stdin))), flush=True)
