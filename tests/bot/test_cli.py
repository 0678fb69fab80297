"""bot/cli.py end to end: the real `coursebot serve` process, long polling the Bot API emulator, with the test
Weaviate server and the tiny model. Tests play students and an admin; they share one bot process (module
fixture) and use different users, so they may run in any order — except the last, which stops the bot."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.handlers.questions import STUDENT_DOCUMENT
from tests.bot.emulator import TelegramEmulator, parse_html
from tests.bot.test_app import FAST_ANSWERS, TOKEN
from tests.bot.test_uploads import PAGES
from tests.conftest import SAMPLE_COURSE
from tests.files import pdf

pytestmark = pytest.mark.timeout(150)

ADMIN, GROUP = 1000, -100777
COURSE = ("programa.md", "Semana 01_Introducción/Clase 1_Introducción.pdf")
QUESTION = "¿Cuánto vale el proyecto final en la nota?"


class LiveBot:
    def __init__(self, emu: TelegramEmulator, proc: subprocess.Popen, data: Path, log: Path):
        self.emu, self.proc, self.data, self.log = emu, proc, data, log

    @property
    def materials(self) -> Path:
        return self.data / "materials"

    def wait(self, predicate, timeout: float = 90.0):
        if self.proc.poll() is not None:
            raise AssertionError(f"the bot exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
        return self.emu.wait_for(predicate, timeout)

    def answer_to(self, chat_id: int, message: dict, timeout: float = 90.0) -> dict:
        """The bot's final answer to a question (the message that got the answer keyboard)."""
        def done(emu):
            for m in emu.bot_messages(chat_id):
                if m["message_id"] > message["message_id"] and m["reply_markup"] and m["parse_mode"] == "HTML":
                    return m
            return None

        return self.wait(done, timeout)

    def calls(self, method: str) -> list[dict]:
        return [p for m, p in self.emu.calls if m == method]

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data / "coursebot.db")


@pytest.fixture(scope="module")
def bot(weaviate_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    data = root / "data"
    for rel in COURSE:
        (data / "materials" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_COURSE / rel, data / "materials" / rel)
    emu = TelegramEmulator(TOKEN).start_in_thread()
    emu.add_chat(ADMIN, first_name="Profe")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COURSEBOT_", "TELEGRAM_")) and k not in ("ADMIN_IDS", "WEAVIATE_URL", "DATABASE_URL")}
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN, "ADMIN_IDS": str(ADMIN),
        "TELEGRAM_API_BASE_URL": f"{emu.base_url}/bot", "TELEGRAM_FILE_BASE_URL": f"{emu.base_url}/file/bot",
        "WEAVIATE_URL": weaviate_server.url, "COURSEBOT_WEAVIATE_GRPC_PORT": str(weaviate_server.grpc_port),
        "COURSEBOT_DATA_DIR": str(data), "COURSEBOT_COLLECTION": f"Live_{uuid.uuid4().hex[:12]}",
        # the tiny model writes gibberish: thresholds calibrated for the real model would decline everything
        "COURSEBOT_ABSTAIN_MIN_SUPPORT": "0", "COURSEBOT_ABSTAIN_MIN_SIMILARITY": "0",
        "COURSEBOT_ANSWER_CHECK": "overlap",
        "COURSEBOT_RATE_PER_MINUTE": "2", "COURSEBOT_EDIT_INTERVAL": "0.5",
        **{f"COURSEBOT_{name.upper()}": str(value) for name, value in FAST_ANSWERS.items()},
    })
    log = root / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "coursebot"), "serve"], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    live = LiveBot(emu, proc, data, log)
    try:
        live.wait(lambda e: any(m == "getUpdates" for m, _ in e.calls), timeout=120)
        command = emu.send_text(ADMIN, "/reindexar")  # the course folder is indexed through the bot itself
        live.wait(lambda e: (e.bot_messages(ADMIN) or [{}])[-1].get("text", "").startswith("🔄 Reindexado"))
        assert command["message_id"] == 1
        yield live
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        emu.stop_thread()


def test_a_question_gets_streamed_edits_then_a_cited_html_answer(bot):
    student = 2001
    asked = bot.emu.send_text(student, QUESTION)
    answer = bot.answer_to(student, asked)
    versions = [v["text"] for v in answer["history"]]
    assert versions[0].startswith("⏳") and versions[1].startswith("🔎 Buscando en: ")
    assert all(a.strip() != b.strip() for a, b in zip(versions, [*versions[1:], answer["text"]], strict=False))
    plain, _ = parse_html(answer["raw_text"])  # accepted by the emulator as Telegram HTML
    assert plain == answer["text"]
    assert "Fuentes" in answer["text"] and "[1] programa" in answer["text"]
    assert ("typing" in [p["action"] for p in bot.calls("sendChatAction")])


def test_feedback_and_escalation_round_trip(bot):
    student = 2002
    asked = bot.emu.send_text(student, "¿Puedo entregar el proyecto final solo?", first_name="Ana")
    answer = bot.answer_to(student, asked)
    like, _, *_, escalate = [b["callback_data"] for row in answer["reply_markup"]["inline_keyboard"] for b in row]
    bot.emu.press_button(student, answer["message_id"], like)
    bot.wait(lambda e: any(p.get("text") == "¡Gracias! 👍" for p in bot.calls("answerCallbackQuery")))
    with bot.db() as db:
        assert db.execute("SELECT user_id, value FROM bot_feedback").fetchall() == [(student, 1)]

    bot.emu.press_button(student, answer["message_id"], escalate)
    staff = bot.wait(lambda e: next((m for m in e.bot_messages(ADMIN) if "Pregunta para el equipo" in m["text"]),
                                    None))
    assert f"de Ana (@user{student}, id {student})" in staff["text"]
    bot.emu.send_text(ADMIN, "Sí, si la profesora lo aprueba.", reply_to_message_id=staff["message_id"])
    relayed = bot.wait(lambda e: next((m for m in e.bot_messages(student) if "equipo docente:" in (m["text"] or "")),
                                      None))
    assert relayed["text"].endswith("Sí, si la profesora lo aprueba.")
    assert relayed["reply_to_message_id"] == asked["message_id"]


def test_an_admin_uploads_a_pdf_and_students_get_answers_citing_its_page(bot, tmp_path):
    data = pdf(tmp_path / "Clase 27.pdf", PAGES).read_bytes()
    bot.emu.send_document(ADMIN, "Clase 27.pdf", data, mime_type="application/pdf")
    status = bot.wait(lambda e: next((m for m in e.bot_messages(ADMIN) if m["text"].startswith("✅ «Clase 27.pdf»")),
                                     None))
    assert "fragmentos indexados" in status["text"]
    assert (bot.materials / "Clase 27.pdf").read_bytes() == data

    student = 2003
    asked = bot.emu.send_text(student, "¿Qué es el coeficiente de correlación de Matthews?")
    answer = bot.answer_to(student, asked)
    assert answer["history"][1]["text"].startswith("🔎 Buscando en: Clase 27, pág. 2")
    assert "Clase 27, pág. 2" in answer["text"].split("Fuentes")[1]


def test_a_student_upload_is_refused_and_nothing_is_stored(bot):
    student = 2004
    before = sorted(p.name for p in bot.materials.rglob("*"))
    sent = bot.emu.send_document(student, "apuntes.md", b"# mis apuntes")
    bot.wait(lambda e: any(m["text"] == STUDENT_DOCUMENT for m in e.bot_messages(student)))  # not an upload
    assert sorted(p.name for p in bot.materials.rglob("*")) == before
    assert sent["document"]["file_id"] not in [p["file_id"] for p in bot.calls("getFile")]  # never downloaded
    with bot.db() as db:
        assert db.execute("SELECT count(*) FROM sources WHERE doc_id = 'apuntes.md'").fetchone() == (0,)


def test_rate_limit(bot):
    student = 2005
    for question in (QUESTION, "¿y los talleres?", "¿y el parcial?"):
        bot.emu.send_text(student, question)
    slow_down = bot.wait(lambda e: next((m for m in e.bot_messages(student) if m["text"].startswith("🐢")), None))
    assert slow_down["text"].startswith("🐢 Vas muy rápido: puedo responder hasta 2 preguntas por minuto.")
    bot.wait(lambda e: sum(bool(m["reply_markup"]) for m in e.bot_messages(student)) == 2)


def test_in_groups_the_bot_answers_only_when_mentioned(bot):
    student = 2006
    chatter = bot.emu.send_text(student, "¿alguien tiene los apuntes?", chat_id=GROUP, chat_type="group")
    asked = bot.emu.send_text(student, f"@coursebot_test {QUESTION}", chat_id=GROUP, chat_type="group")
    answer = bot.answer_to(GROUP, asked)
    assert answer["reply_to_message_id"] == asked["message_id"]
    assert [m["reply_to_message_id"] for m in bot.emu.bot_messages(GROUP)] == [asked["message_id"]]
    assert chatter["message_id"] < asked["message_id"]


def test_sigint_stops_the_bot_cleanly_and_the_token_was_never_logged(bot):
    """Runs last (pytest keeps the file's order): it stops the shared bot."""
    bot.proc.send_signal(signal.SIGINT)
    assert bot.proc.wait(30) == 0
    log = bot.log.read_text()
    assert "serving Curso de ejemplo as @coursebot_test" in log
    assert TOKEN not in log and "TEST-TOKEN" not in log
    assert "Traceback" not in log
