"""bot/app.py: the wiring, post_init, the access gate and the error handler — through PTB's real Application.

Also home of the in-process harness the other handler tests use: `EmulatorRequest` replaces PTB's HTTP layer
with the emulator's Bot API methods called directly (no sockets), and updates are fed with `process_update`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete
from telegram import Update
from telegram.ext import Application, MessageHandler, filters
from telegram.request import BaseRequest, RequestData

from bot.app import build_application
from bot.settings import BotSettings
from bot.tables import Asked, Turn, User
from knowledge.core import Knowledge
from knowledge.settings import Settings
from tests.bot.emulator import ApiError, TelegramEmulator, Upload, parse_html
from tests.conftest import MODELS_DIR, SAMPLE_COURSE, TINY_MODEL
from tests.postgres import suite_database_url

TOKEN = "123456:TEST-TOKEN"
ADMIN, STUDENT, OTHER = 1000, 2000, 3000

pytestmark = pytest.mark.timeout(120)


class EmulatorRequest(BaseRequest):
    """PTB's HTTP layer answered in-process by the emulator's Bot API methods (same errors, no sockets)."""

    def __init__(self, emu: TelegramEmulator):
        self.emu = emu
        self.calls: list[tuple[str, dict]] = []
        self.times: list[float] = []  # time.monotonic() of each call
        self.file_data: dict[str, bytes] = {}  # file_id -> bytes, for documents the tests "send"
        self._paths: dict[str, bytes] = {}  # file_path -> bytes, once the bot asked getFile

    @property
    def read_timeout(self) -> float:
        return 5.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args, **kwargs) -> tuple[int, bytes]:
        if "/file/bot" in url:
            path = url.split("/file/bot", 1)[1].split("/", 1)[1]
            return (200, self._paths[path]) if path in self._paths else (404, b"Not Found")
        api_method = url.rsplit("/", 1)[1]
        params = dict(request_data.parameters) if request_data else {}
        for name, (filename, content, mime) in (request_data.multipart_data if request_data else {}).items():
            params[name] = Upload(filename, mime, content if isinstance(content, bytes) else content.read())
        self.calls.append((api_method, params))
        self.times.append(time.monotonic())
        handler = getattr(self.emu, f"api_{api_method}", None)
        try:
            if handler is None:
                raise ApiError(404, "Not Found")
            result = handler(params)
        except ApiError as e:
            return e.code, json.dumps(e.as_json()).encode()  # with "parameters" for a retry_after
        if api_method == "getFile":
            data = self.file_data.get(params["file_id"])  # what a test "sent", else what the emulator stores
            self._paths[result["file_path"]] = data if data is not None else self.emu.file_bytes(params["file_id"])
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]


class Harness:
    """Play users against the Application: each call feeds one update and waits until it is handled."""

    def __init__(self, app: Application, emu: TelegramEmulator, request: EmulatorRequest):
        self.app, self.emu, self.request = app, emu, request
        self._update_ids = iter(range(1, 1_000_000))

    @property
    def services(self):
        return self.app.bot_data.services

    async def process(self, **payload) -> None:
        update = Update.de_json({"update_id": next(self._update_ids), **payload}, self.app.bot)
        await self.app.process_update(update)

    async def send_text(self, user_id: int, text: str, **kwargs) -> dict:
        message = self.emu.send_text(user_id, text, **kwargs)
        await self.process(message=message)
        return message

    async def send_document(self, user_id: int, filename: str, data: bytes, **kwargs) -> dict:
        message = self.emu.send_document(user_id, filename, data, **kwargs)
        self.request.file_data[message["document"]["file_id"]] = data
        await self.process(message=message)
        return message

    async def press(self, user_id: int, message_id: int, data: str, chat_id: int | None = None) -> dict:
        query = self.emu.press_button(user_id, message_id, data, chat_id)
        await self.process(callback_query=query)
        return query

    def callback_answers(self) -> list[dict]:
        """What the bot answered to button presses: {"text", "show_alert"}."""
        return [{"text": p.get("text"), "show_alert": bool(p.get("show_alert"))}
                for m, p in self.request.calls if m == "answerCallbackQuery"]

    def alerts(self) -> list[str]:
        return [a["text"] for a in self.callback_answers() if a["show_alert"]]

    def texts(self, chat_id: int) -> list[str]:
        return [m["text"] or m["caption"] or "" for m in self.emu.bot_messages(chat_id)]

    def last(self, chat_id: int) -> dict:
        return self.emu.bot_messages(chat_id)[-1]


# The tiny model, short prompts and answers: prompt evaluation dominates on 2 shared cores, and one thread
# contends least with the rest of the machine.
FAST_ANSWERS = {"generator_model": str(TINY_MODEL), "max_answer_tokens": 24, "n_threads": 1,
                "answer_max_sources": 2, "answer_chars_per_source": 400, "answer_total_chars": 800}


def use_tiny_model(settings: Settings) -> Settings:
    """Point the conftest `settings` (shared with the `kb` fixture, which reads them lazily) at the tiny model."""
    for name, value in FAST_ANSWERS.items():
        setattr(settings, name, value)
    return settings


def bot_settings(settings: Settings, **overrides) -> BotSettings:
    """BotSettings for a test: the knowledge settings given, a token, an admin, a small answer budget."""
    values = {**settings.model_dump(), "telegram_bot_token": TOKEN, "admin_ids": [ADMIN], **FAST_ANSWERS,
              "edit_interval": 0.2, **overrides}
    return BotSettings(**values, _env_file=None)


@asynccontextmanager
async def running(settings: BotSettings, knowledge: Knowledge,
                  chats: tuple[int, ...] = (ADMIN, STUDENT, OTHER)) -> AsyncIterator[Harness]:
    """An initialized Application (post_init done) on a fresh emulator where `chats` have opened a private chat
    with the bot; shut down afterwards. Each scenario starts with no rate-limit windows and no conversations
    (they live in the database and would carry over from the module's previous scenario; that they survive a
    restart is tested in test_limits.py and test_webhook.py)."""
    with knowledge.sessions.begin() as s:
        s.execute(delete(Asked))
        s.execute(delete(Turn))
    emu = TelegramEmulator(TOKEN)
    request = EmulatorRequest(emu)
    app = build_application(settings, knowledge, request)
    for user_id in chats:
        emu.add_chat(user_id)
    await app.initialize()
    await app.post_init(app)
    try:
        yield Harness(app, emu, request)
    finally:
        await app.post_shutdown(app)
        await app.shutdown()


def play(settings: BotSettings, knowledge: Knowledge, scenario, timeout: float = 90, **kwargs) -> None:
    """Run `await scenario(harness)` in a fresh event loop (pytest-asyncio is not used)."""

    async def main() -> None:
        async with running(settings, knowledge, **kwargs) as harness:
            await asyncio.wait_for(scenario(harness), timeout)

    asyncio.run(main())


@contextmanager
def indexed_course(weaviate_server, folder: Path, only: tuple[str, ...] = (),
                   **overrides) -> Iterator[tuple[BotSettings, Knowledge]]:
    """The sample course (or `only` some of its files) copied into a fresh materials folder and indexed in its
    own collection; the tiny model answers, with the abstention thresholds off unless overridden."""
    data = folder / "data"
    if only:
        for rel in only:
            (data / "materials" / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SAMPLE_COURSE / rel, data / "materials" / rel)
    else:
        shutil.copytree(SAMPLE_COURSE, data / "materials", ignore=shutil.ignore_patterns("*.jsonl"))
    # The tiny model writes gibberish: thresholds calibrated for the real model would decline everything.
    overrides = {"abstain_min_support": 0.0, "abstain_min_similarity": 0.0, "answer_check": "overlap",
                 **overrides}
    base = Settings(data_dir=data, weaviate_url=weaviate_server.url, weaviate_grpc_port=weaviate_server.grpc_port,
                    models_dir=MODELS_DIR, collection=f"Test_{uuid.uuid4().hex[:12]}",
                    database_url=suite_database_url(), _env_file=None)
    settings = bot_settings(base, **overrides)
    with Knowledge(settings) as kb:
        kb.indexer.refresh(settings.resolved_materials_dir)
        try:
            yield settings, kb
        finally:
            kb.store.drop()


def assert_valid_html(raw: str) -> None:
    """Telegram's HTML subset, as the emulator parses it (raises on invalid markup)."""
    parse_html(raw)


# -- tests ------------------------------------------------------------------------------------------
@pytest.fixture
def bot_kb(settings, kb):
    return bot_settings(use_tiny_model(settings)), kb


def test_post_init_publishes_student_and_admin_menus(bot_kb):
    settings, kb = bot_kb

    async def scenario(h: Harness) -> None:
        student_menu = [c["command"] for c in h.emu.commands()]
        admin_menu = [c["command"] for c in h.emu.commands({"type": "chat", "chat_id": ADMIN})]
        assert student_menu == ["start", "help", "fuentes", "nuevo"]
        assert admin_menu[:4] == student_menu
        assert {"documentos", "borrar", "reindexar", "stats", "pendientes", "admin"} <= set(admin_menu)
        assert h.services.admins == {ADMIN}
        assert h.services.db is not None

    play(settings, kb, scenario)
    assert kb.client is not None, "post_shutdown must not close a knowledge core it did not open"


def test_admin_commands_from_a_student_are_refused_and_logged(bot_kb, caplog):
    settings, kb = bot_kb

    async def scenario(h: Harness) -> None:
        for command in ("/documentos", "/borrar programa.md", "/reindexar", "/stats", "/pendientes",
                        f"/admin add {STUDENT}"):
            before = len(h.texts(STUDENT))
            await h.send_text(STUDENT, command)
            assert h.texts(STUDENT)[before:] == ["⛔ Eso es solo para el equipo docente."]
        assert h.services.admins == {ADMIN}
        assert "getFile" not in h.request.methods()

    with caplog.at_level(logging.WARNING, logger="bot"):
        play(settings, kb, scenario)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 6 and all(str(STUDENT) in r for r in refusals)


def test_the_error_handler_apologizes_and_never_logs_the_token(bot_kb, caplog):
    settings, kb = bot_kb

    async def leaky(update, context):
        raise RuntimeError(f"boom while calling https://api.telegram.org/bot{TOKEN}/sendMessage")

    async def scenario(h: Harness) -> None:
        h.app.add_handler(MessageHandler(filters.Regex("^explota$"), leaky), group=-2)
        await h.send_text(STUDENT, "explota")
        assert any(text.startswith("😔 Lo siento, algo falló") for text in h.texts(STUDENT))

    with caplog.at_level(logging.INFO):
        play(settings, kb, scenario)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "boom while calling" in logged
    assert TOKEN not in logged and "TEST-TOKEN" not in logged


def test_settings_token_is_secret_in_repr(bot_kb):
    settings, _ = bot_kb
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def test_concurrent_first_updates_of_a_new_user_are_all_served(bot_kb):
    """Regression: the gate recorded a new user once per concurrent update; the duplicate inserts failed and,
    since PTB goes on to the next group after a handler error, the update then skipped the rate limit."""
    settings, kb = bot_kb

    async def scenario(h: Harness) -> None:
        await asyncio.gather(*(h.send_text(OTHER, "/help") for _ in range(3)))
        assert [t[:20] for t in h.texts(OTHER)] == ["Escríbeme tu pregunt"] * 3
        with kb.sessions() as s:
            assert s.get(User, OTHER).name == f"User{OTHER}"

    play(settings, kb, scenario)


def buttons(message: dict) -> dict[str, str]:
    """button text -> callback data of a message's inline keyboard"""
    return {b["text"]: b["callback_data"] for row in message["reply_markup"]["inline_keyboard"] for b in row}
