"""Authorization where each admin action runs: every admin-only handler the application registers, from every kind
of sender that is not a current admin, with command spellings drawn from Telegram's grammar.

The updates are built by the Bot API emulator the way Telegram builds them (a `bot_command` entity ends at the first
character outside [A-Za-z0-9_], and after `@botname`; the text is trimmed), and PTB's own parse decides which
handler runs. For every case: no admin added (in memory or in the database), the knowledge base, the materials
folder and the registry unchanged, and nothing an admin handler writes sent to anyone.

Regression tests name the four bypasses found against the old gate, which read the command from the text split on
whitespace while PTB read it from the entity: `/admin. add ID`, `/admin, add ID`, `/admin@bot. add ID` and an
anonymous group admin's `/admin@bot add ID` (the sender is GroupAnonymousBot, a bot, which the gate let through).
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler

from bot.handlers.access import REFUSED
from bot.handlers.students import STUDENT_COMMANDS
from bot.tables import ADMIN as ADMIN_ROLE
from bot.tables import STUDENT as STUDENT_ROLE
from bot.tables import User, set_role
from tests.bot.test_app import ADMIN, STUDENT, Harness, buttons, indexed_course, running
from tests.hardening.hostile import MD_BODY, snapshot

pytestmark = pytest.mark.timeout(600)

GROUP = -100777
OWN_GROUP = -100778
FORMER = 4000  # an admin until the fixture removed them with /admin remove
BOT = "coursebot_test"
# What only an admin handler writes: none of it may reach a sender who is not an admin.
ADMIN_TEXTS = ("Uso: /admin", "Admins actuales", "ahora es admin", "ya no es admin", "📚 Documentos", "📊 Estadísticas",
               "📝 Pendientes", "✨ No hay preguntas pendientes", "¿Borro", "🗑️ Borré", "Cancelado: no borré",
               "⏳ Reindexando", "🔄 Reindexado", "No encontré «", "📥 Recibí", "Respuesta enviada al estudiante",
               "Uso: /borrar", "No hay documentos indexados")


class Live:
    """The bot (in-process harness) running on an event loop of its own thread, so sync tests — Hypothesis's — can
    feed it updates one at a time."""

    def __init__(self, bot_settings, kb):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._running = running(bot_settings, kb, chats=(ADMIN, STUDENT, FORMER))
        self.h: Harness = self.run(self._running.__aenter__())

    def run(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        try:
            self.run(self._running.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture(scope="module")
def live(weaviate_server, tmp_path_factory):
    """The syllabus indexed, the bot running; FORMER was made admin and removed again; the rate limiter's clock is
    frozen, so anything that turns out to be a question is answered once per sender and refused after."""
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("authz"), only=("programa.md",),
                        rate_per_minute=1) as (s, kb):
        bot = Live(s, kb)
        try:
            h = bot.h
            h.emu.add_chat(STUDENT, GROUP, "supergroup", title="Curso")
            h.emu.add_chat(ADMIN, GROUP, "supergroup")
            for command in (f"/admin add {FORMER}", f"/admin remove {FORMER}"):
                bot.run(h.send_text(ADMIN, command))
            assert h.services.admins == {ADMIN}
            h.services.limiter.clock = lambda: 0.0
            yield bot, kb
        finally:
            bot.close()


def staff_handlers(app) -> list:
    """Every handler whose callback is wrapped by `staff_only`, as the application registered them."""
    return [h for group in app.handlers.values() for h in group if getattr(h.callback, "staff_only", False)]


def staff_commands(app) -> list[str]:
    return sorted(c for h in staff_handlers(app) if isinstance(h, CommandHandler) for c in h.commands)


def admins_in_db(kb) -> set[int]:
    with kb.sessions() as s:
        return {u.id for u in s.query(User).filter(User.role == ADMIN_ROLE)}


def admin_texts(texts: list[str]) -> list[str]:
    return [t for t in texts if any(marker in t for marker in ADMIN_TEXTS)]


def assert_nothing_happened(kb, h: Harness, before, sent_before: int) -> None:
    assert h.services.admins == {ADMIN}
    assert admins_in_db(kb) <= {ADMIN}  # ADMIN is one by configuration (ADMIN_IDS), not by a row
    assert snapshot(kb) == before
    new = [m["text"] or "" for m in h.emu.bot_messages()][sent_before:]
    assert admin_texts(new) == [], new
    assert "getFile" not in h.request.methods()


# -- every registered admin handler is guarded -----------------------------------------------------------
def test_every_handler_but_the_students_own_is_staff_only(live):
    """A new admin command must be wired through staff_only: anything registered that is neither a student command
    nor a student's button nor the question/media handlers is an admin action."""
    bot, _ = live
    app = bot.h.app
    commands = {c for group in app.handlers.values() for h in group if isinstance(h, CommandHandler)
                for c in h.commands}
    student = {c.command for c in STUDENT_COMMANDS}
    assert set(staff_commands(app)) == commands - student
    assert {"admin", "borrar", "documentos", "pendientes", "reindexar", "stats"} <= set(staff_commands(app))
    buttons_guarded = {h.pattern.pattern for h in staff_handlers(app) if isinstance(h, CallbackQueryHandler)}
    assert any(p.startswith("^del:") for p in buttons_guarded) and any(p.startswith("^keep:") for p in buttons_guarded)
    guarded_messages = [h for h in staff_handlers(app) if isinstance(h, MessageHandler)]
    assert len(guarded_messages) == 2  # uploads and staff replies


# -- the four bypasses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", [f"/admin. add {STUDENT}", f"/admin, add {STUDENT}",
                                      f"/admin@{BOT}. add {STUDENT}"])
def test_punctuation_after_the_command_does_not_make_a_student_admin(live, spelling):
    """Regression: PTB runs /admin for '/admin.' (its entity ends at the '.') with args ['add', ID]; the old gate
    split the text on whitespace, saw '/admin.', not an admin command, and let it through."""
    bot, kb = live
    h, before, sent = bot.h, snapshot(kb), len(bot.h.emu.bot_messages())
    bot.run(h.send_text(STUDENT, spelling))
    assert h.texts(STUDENT)[-1] == REFUSED
    bot.run(h.send_text(STUDENT, "/stats"))
    assert h.texts(STUDENT)[-1] == REFUSED
    assert_nothing_happened(kb, h, before, sent)


def test_an_anonymous_group_admin_is_not_an_admin(live):
    """Regression: an anonymous group admin's message comes from GroupAnonymousBot (is_bot: true) with the group as
    sender_chat; the old gate returned early for bots, and /admin ran for whoever the group admin was."""
    bot, kb = live
    h, before, sent = bot.h, snapshot(kb), len(bot.h.emu.bot_messages())
    message = h.emu.send_text(STUDENT, f"/admin@{BOT} add {STUDENT}", chat_id=GROUP, chat_type="supergroup",
                              sender="anonymous_admin")
    assert message["from"]["is_bot"] and message["sender_chat"]["id"] == GROUP
    bot.run(h.process(message=message))
    assert h.texts(GROUP)[-1] == REFUSED
    assert_nothing_happened(kb, h, before, sent)


def test_a_removed_admin_cannot_relay_a_staff_reply_through_an_old_escalation(live):
    """A former admin's reply to the escalation they received while admin reaches no student."""
    bot, kb = live
    h = bot.h
    question = bot.run(h.send_text(STUDENT, "¿Cuánto vale el proyecto final en la nota?"))
    assert question
    answer = h.last(STUDENT)
    bot.run(h.services.database.run(set_role, FORMER, ADMIN_ROLE))  # FORMER is admin again while the student
    try:                                                                # escalates…
        bot.run(h.press(STUDENT, answer["message_id"], buttons(answer)["🙋 Preguntar al equipo"]))
    finally:
        bot.run(h.services.database.run(set_role, FORMER, STUDENT_ROLE))  # …and removed before replying
    escalated = [m for m in h.emu.bot_messages(FORMER) if "Pregunta para el equipo" in (m["text"] or "")]
    assert escalated, h.emu.dump()
    student_before = len(h.texts(STUDENT))
    bot.run(h.send_text(FORMER, "La respuesta es 40 %.", reply_to_message_id=escalated[-1]["message_id"]))
    assert not any("Respuesta del equipo docente" in t for t in h.texts(STUDENT)[student_before:])
    assert not any("Respuesta enviada al estudiante" in t for t in h.texts(FORMER))


# -- the matrix ------------------------------------------------------------------------------------------
SENDERS = ("student_private", "student_group", "anonymous_admin", "channel", "edited", "forwarded", "former_admin")


def command_text(command: str, spelling: dict) -> str:
    """One spelling of a command from Telegram's grammar, with arguments an attacker would give."""
    name = command.upper() if spelling["upper"] else command
    target = {"none": "", "ours": f"@{BOT}", "other": "@otro_bot"}[spelling["target"]]
    args = {"admin": f" add {STUDENT}", "borrar": " programa.md"}.get(command, " x")
    return f"{spelling['lead']}/{name}{target}{spelling['punct']}{args}{spelling['trail']}"


SPELLINGS = st.fixed_dictionaries({
    "upper": st.booleans(),
    "target": st.sampled_from(["none", "ours", "other"]),
    "punct": st.sampled_from(["", ".", ",", "!", ":", ";", "?", ")", "-", "…", "\u200b"]),
    "lead": st.sampled_from(["", " ", "  \n", "\u200b", "\ufeff"]),
    "trail": st.sampled_from(["", " ", "\u200b"]),
})


def send_as(bot: Live, sender: str, text: str) -> None:
    h, emu = bot.h, bot.h.emu
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    if sender == "student_private":
        message = emu.send_text(STUDENT, text)
    elif sender == "student_group":
        message = emu.send_text(STUDENT, text, **group)
    elif sender in ("anonymous_admin", "channel"):
        message = emu.send_text(ADMIN, text, **group, sender=sender)
    elif sender == "forwarded":
        message = emu.send_text(STUDENT, text, forward_from=ADMIN)
    elif sender == "former_admin":
        message = emu.send_text(FORMER, text)
    else:  # edited: a harmless message, edited into the command
        original = emu.send_text(STUDENT, "hola")
        bot.run(h.process(message=original))
        edited = emu.edit_text(STUDENT, original["message_id"], text)
        bot.run(h.process(edited_message=edited))
        return
    bot.run(h.process(message=message))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(sender=st.sampled_from(SENDERS), command=st.sampled_from(
    ["admin", "borrar", "documentos", "pendientes", "reindexar", "stats"]), spelling=SPELLINGS)
def test_no_sender_but_an_admin_runs_an_admin_command_however_it_is_spelled(live, sender, command, spelling):
    bot, kb = live
    assert command in staff_commands(bot.h.app)  # the strategy's list is the application's
    before, sent = snapshot(kb), len(bot.h.emu.bot_messages())
    send_as(bot, sender, command_text(command, spelling))
    assert_nothing_happened(kb, bot.h, before, sent)


@pytest.mark.parametrize("other", [STUDENT, FORMER])
def test_uploads_and_admin_buttons_from_anyone_else_change_nothing(live, other):
    """Buttons are pressed by a user (Telegram shows no anonymous presser): a student or a former admin."""
    bot, kb = live
    h = bot.h
    bot.run(h.send_text(ADMIN, "/borrar programa.md", chat_id=GROUP, chat_type="supergroup"))
    confirm = h.last(GROUP)
    assert confirm["text"].startswith("¿Borro programa.md")
    before, sent = snapshot(kb), len(h.emu.bot_messages())
    h.emu.add_chat(other, GROUP, "supergroup")
    for label in ("🗑️ Sí, borrar", "Cancelar"):
        bot.run(h.press(other, confirm["message_id"], buttons(confirm)[label], chat_id=GROUP))
    assert h.alerts()[-2:] == [REFUSED, REFUSED]
    assert h.last(GROUP)["text"] == confirm["text"]  # neither deleted nor cancelled
    bot.run(h.send_document(other, "nuevo.md", MD_BODY.encode()))
    assert_nothing_happened(kb, h, before, sent)


@pytest.mark.parametrize("data", ["keep:x", "del:1", "del:../../etc", "keep:", "del:0123456789abcdef:1",
                                  "like:abc", "doc:1", "esc:" + "9" * 30])
def test_forged_or_malformed_button_data_is_refused_before_any_handler(live, data):
    """Buttons in an unknown shape never reach a handler: the admin's own confirmation message stays as it was."""
    bot, kb = live
    h = bot.h
    bot.run(h.send_text(ADMIN, "/borrar programa.md"))
    confirm = h.last(ADMIN)
    before = snapshot(kb)
    query = h.emu.press_button(ADMIN, confirm["message_id"], buttons(confirm)["Cancelar"])
    query["data"] = data  # what a modified client sends
    bot.run(h.process(callback_query=query))
    assert h.last(ADMIN)["text"] == confirm["text"]
    assert h.alerts()[-1] == "Este botón ya no funciona."
    assert snapshot(kb) == before


def test_anonymous_senders_are_rate_limited_under_the_chat_they_post_as(live):
    """Regression: the gate returned early for bots, so an anonymous group admin or a post "as a channel" skipped
    the rate limit as well as the admin check."""
    bot, _ = live
    h = bot.h
    # a group of its own: the tests above spent GROUP's Bot API budget (20 messages a minute), which would make
    # these answers wait out Telegram's group limit rather than show ours
    h.emu.add_chat(ADMIN, OWN_GROUP, "supergroup", title="Curso B")
    for sender in ("anonymous_admin", "channel"):
        replies = []
        for _ in range(2):
            message = h.emu.send_text(ADMIN, f"@{BOT} ¿Cuánto vale el proyecto final?", chat_id=OWN_GROUP,
                                      chat_type="supergroup", sender=sender)
            sent = len(h.texts(OWN_GROUP))
            bot.run(h.process(message=message))
            replies.append(h.texts(OWN_GROUP)[sent:])
        key = message["sender_chat"]["id"]
        assert any(t.startswith("🐢 Vas muy rápido") for t in replies[-1]), (sender, replies)
        assert h.services.limiter.check(key).allowed is False  # counted under the chat, not under a user
