"""The Telegram Bot API emulator, driven by real python-telegram-bot networking (no mocks)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest, EndPointNotFound, InvalidToken, RetryAfter
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes, filters

from tests.bot.emulator import CHANNEL_BOT, GROUP_ANONYMOUS_BOT, TelegramEmulator, clean_text

TOKEN = "123456:TEST-TOKEN"
USER, OTHER, GROUP, CHANNEL = 4242, 4343, -100123, -100777

pytestmark = pytest.mark.timeout(60)


def make_bot(emu: TelegramEmulator, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{emu.base_url}/bot", base_file_url=f"{emu.base_url}/file/bot")


def run(scenario) -> None:
    """Run scenario(emu, bot) against a fresh emulator, stopping everything afterwards."""

    async def main() -> None:
        async with TelegramEmulator(TOKEN) as emu, make_bot(emu) as bot:
            await asyncio.wait_for(scenario(emu, bot), 45)

    asyncio.run(main())
    assert not [t for t in threading.enumerate() if t.name == "telegram-emulator"]


def test_get_me_and_auth_errors():
    async def scenario(emu, bot):
        me = await bot.get_me()
        assert me.is_bot and me.id == 123456 and me.username == "coursebot_test"
        assert me.can_join_groups is True and me.supports_inline_queries is False
        with pytest.raises(InvalidToken, match="was rejected by the server"):
            async with make_bot(emu, "999:WRONG"):
                pass
        with pytest.raises(EndPointNotFound, match="noSuchMethod"):
            await bot.do_api_request("noSuchMethod")
        async with httpx.AsyncClient() as client:
            wrong = await client.get(f"{emu.base_url}/bot999:WRONG/getMe")
            malformed = await client.post(f"{emu.base_url}/botWRONG/getMe")
            unknown = await client.post(f"{emu.base_url}/bot{TOKEN}/noSuchMethod")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        assert malformed.status_code == unknown.status_code == 404
        assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        assert [m for m, _ in emu.calls][:1] == ["getMe"]

    run(scenario)


def test_send_message_is_visible_to_the_driver():
    async def scenario(emu, bot):
        incoming = emu.send_text(USER, "hello", first_name="Ada", username="ada")
        assert incoming["chat"] == {"id": USER, "type": "private", "first_name": "Ada", "username": "ada"}
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
        sent = await bot.send_message(USER, "Hi <b>Ada</b> &amp; co", parse_mode="HTML", reply_markup=markup,
                                      reply_parameters=ReplyParameters(incoming["message_id"]))
        assert sent.text == "Hi Ada & co" and sent.text_html == "Hi <b>Ada</b> &amp; co"
        assert sent.from_user.is_bot and sent.chat.type == "private"
        assert sent.reply_to_message.text == "hello" and sent.reply_markup == markup
        assert abs(sent.date.timestamp() - time.time()) < 5  # seconds, not milliseconds
        [record] = emu.bot_messages(USER)
        assert record["text"] == "Hi Ada & co" and record["raw_text"] == "Hi <b>Ada</b> &amp; co"
        assert record["parse_mode"] == "HTML" and record["reply_to_message_id"] == incoming["message_id"]
        assert record["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more:1"
        method, params = emu.calls[-1]
        assert method == "sendMessage" and params["reply_markup"]["inline_keyboard"]
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(777, "nobody here")
        with pytest.raises(BadRequest, match="Message to be replied not found"):
            await bot.send_message(USER, "x", reply_to_message_id=999)

    run(scenario)


@pytest.mark.parametrize("text, error", [
    ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("see <br> here", 'Unsupported start tag "br" at byte offset 4'),
    ("<span>s</span>", 'Tag "span" must have class "tg-spoiler"'),
])
def test_invalid_html_is_rejected(text, error):
    async def scenario(emu, bot):
        emu.add_chat(USER)
        with pytest.raises(BadRequest, match="Can't parse entities") as info:
            await bot.send_message(USER, text, parse_mode="HTML")
        assert error.lower() in info.value.message.lower()  # PTB lower-cases all but the first letter
        async with httpx.AsyncClient() as client:
            raw = await client.post(f"{emu.base_url}/bot{TOKEN}/sendMessage",
                                    json={"chat_id": USER, "text": text, "parse_mode": "HTML"})
        assert raw.status_code == 400 and raw.json()["error_code"] == 400
        assert raw.json()["description"].startswith(f"Bad Request: can't parse entities: {error}")
        assert emu.bot_messages(USER) == []

    run(scenario)


def test_valid_html_and_text_limits():
    async def scenario(emu, bot):
        emu.add_chat(USER)
        ok = await bot.send_message(USER, "&lt;b&gt; <i>x</i> <a href=\"https://e.org/?a=1&amp;b=2\">l</a>"
                                    " <pre><code class=\"language-python\">1 &lt; 2</code></pre> &#169;",
                                    parse_mode="HTML")
        assert ok.text == "<b> x l 1 < 2 ©"
        assert [(e.type, e.url, e.language) for e in ok.entities] == [
            ("italic", None, None), ("text_link", "https://e.org/?a=1&b=2", None), ("pre", None, "python")]
        assert (await bot.send_message(USER, "a < b")).text == "a < b"  # no parse_mode: no parsing
        assert len((await bot.send_message(USER, "x" * 4096)).text) == 4096
        assert len((await bot.send_message(USER, f"<b>{'x' * 4096}</b>", parse_mode="HTML")).text) == 4096
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(USER, "x" * 4097)
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(USER, "&amp;" * 4097, parse_mode="HTML")
        for empty in ("", "   ", "<b></b>"):
            with pytest.raises(BadRequest, match="Message text is empty"):
                await bot.send_message(USER, empty, parse_mode="HTML")

    run(scenario)


def test_edit_message_text():
    async def scenario(emu, bot):
        emu.add_chat(USER)
        sent = await bot.send_message(USER, "<b>v1</b>", parse_mode="HTML")
        with pytest.raises(BadRequest, match="Message is not modified: specified new message content"):
            await bot.edit_message_text("<b>v1</b>", USER, sent.message_id, parse_mode="HTML")
        edited = await bot.edit_message_text("<i>v2</i>", USER, sent.message_id, parse_mode="HTML")
        assert edited.text == "v2" and edited.edit_date is not None
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
        await bot.edit_message_text("<i>v2</i>", USER, sent.message_id, parse_mode="HTML",
                                    reply_markup=markup)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_text("x", USER, 999)
        [record] = emu.bot_messages(USER)
        assert record["text"] == "v2" and record["reply_markup"] == markup.to_dict()
        assert [h["raw_text"] for h in record["history"]] == ["<b>v1</b>", "<i>v2</i>"]

    run(scenario)


def test_long_poll_returns_as_soon_as_an_update_arrives():
    async def scenario(emu, bot):
        started = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert time.monotonic() - started >= 0.9  # it waited instead of returning [] at once

        async def user_writes_later():
            await asyncio.sleep(0.5)
            emu.send_text(USER, "/start")

        started = time.monotonic()
        writer = asyncio.create_task(user_writes_later())
        updates = await asyncio.wait_for(bot.get_updates(timeout=5), 4)
        await writer
        assert 0.4 <= time.monotonic() - started < 2
        [update] = updates
        assert update.message.text == "/start" and update.message.from_user.id == USER
        assert update.message.entities[0].type == "bot_command"

    run(scenario)


def test_offset_limit_and_allowed_updates():
    async def scenario(emu, bot):
        for i in range(3):
            emu.send_text(USER, f"m{i} @coursebot_test")
        first = await bot.get_updates(limit=2)
        assert [u.message.text.split()[0] for u in first] == ["m0", "m1"]
        assert first[0].message.entities[0].type == "mention"
        again = await bot.get_updates(offset=first[-1].update_id + 1)
        assert [u.message.text.split()[0] for u in again] == ["m2"]
        assert await bot.get_updates(offset=again[-1].update_id + 1) == ()
        assert emu.pending_updates() == []
        emu.send_text(USER, "text only")
        assert await bot.get_updates(allowed_updates=["callback_query"]) == ()

    run(scenario)


def test_group_chat_entities_and_documents():
    async def scenario(emu, bot):
        group = -100123
        msg = emu.send_text(USER, "/ask@coursebot_test what is @coursebot_test?", chat_id=group,
                            chat_type="supergroup")
        assert msg["chat"] == {"id": group, "type": "supergroup", "title": f"Group {group}"}
        assert [(e["type"], e["offset"], e["length"]) for e in msg["entities"]] == [
            ("bot_command", 0, 19), ("mention", 28, 15)]
        doc = emu.send_document(USER, "slides.pptx", b"PK", chat_id=group)
        assert doc["chat"]["type"] == "supergroup"
        [first, second] = await bot.get_updates()
        assert first.message.chat.type == "supergroup" and first.message.text.startswith("/ask")
        assert second.message.document.file_name == "slides.pptx"
        reply = await bot.send_message(group, "answer", reply_to_message_id=msg["message_id"])
        assert reply.chat.id == group and reply.reply_to_message.from_user.id == USER
        assert [r["text"] for r in emu.bot_messages(group)] == ["answer"]

    run(scenario)


def test_buttons_commands_and_chat_actions():
    async def scenario(emu, bot):
        emu.add_chat(USER)
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="page:2")]])
        sent = await bot.send_message(USER, "page 1", reply_markup=markup)
        with pytest.raises(ValueError, match="no button"):
            emu.press_button(USER, sent.message_id, "page:9")
        emu.press_button(USER, sent.message_id, "page:2")
        [update] = await bot.get_updates()
        assert update.callback_query.data == "page:2" and update.callback_query.message.text == "page 1"
        assert await update.callback_query.answer("done") is True
        with pytest.raises(BadRequest, match="Query is too old"):
            await update.callback_query.answer()
        assert await bot.send_chat_action(USER, "typing") is True
        await bot.set_my_commands([("start", "Start"), ("ask", "Ask a question")])
        await bot.set_my_commands([("start", "Commencer")], language_code="fr")
        assert [c.command for c in await bot.get_my_commands()] == ["start", "ask"]
        assert [c.description for c in await bot.get_my_commands(language_code="fr")] == ["Commencer"]
        assert emu.commands(language_code="fr") == [{"command": "start", "description": "Commencer"}]
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([("Bad Command", "x")])
        await bot.delete_my_commands(language_code="fr")
        assert await bot.get_my_commands(language_code="fr") == ()
        chat = await bot.get_chat(USER)
        assert chat.type == "private" and chat.username == f"user{USER}"
        assert (await bot.forward_message(USER, USER, sent.message_id)).forward_origin.sender_user.is_bot
        copied = await bot.copy_message(USER, USER, sent.message_id)
        assert emu.bot_messages(USER)[-1]["message_id"] == copied.message_id

    run(scenario)


def test_files_roundtrip_and_limits():
    async def scenario(emu, bot):
        message = emu.send_document(USER, "notes.pdf", b"%PDF-1.4 tiny", mime_type="application/pdf",
                                    caption="my notes")
        assert message["document"]["file_size"] == 13 and message["caption"] == "my notes"
        [update] = await bot.get_updates()
        assert update.message.document.file_name == "notes.pdf"
        file = await update.message.document.get_file()
        assert file.file_size == 13 and file.file_path.startswith(f"{emu.base_url}/file/bot{TOKEN}/")
        assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 tiny"

        huge = emu.send_document(USER, "huge.pdf", b"x", file_size=21 * 1024 * 1024)
        with pytest.raises(BadRequest, match="File is too big"):
            await bot.get_file(huge["document"]["file_id"])
        with pytest.raises(BadRequest, match="Invalid file_id"):
            await bot.get_file("nope")

        sent = await bot.send_document(USER, b"answer,42\n", filename="answers.csv",
                                       caption="<b>Results</b>", parse_mode="HTML")
        assert sent.document.file_name == "answers.csv" and sent.caption == "Results"
        resent = await bot.send_document(USER, sent.document.file_id)  # by file_id: not a new upload
        assert resent.document.file_id == sent.document.file_id
        [upload] = emu.uploaded_files(USER)
        assert upload["data"] == b"answer,42\n" and upload["file_name"] == "answers.csv"
        assert upload["message_id"] == sent.message_id
        assert emu.bot_messages(USER)[-1]["document"]["file_name"] == "answers.csv"
        downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()
        assert bytes(downloaded) == b"answer,42\n"

    run(scenario)


def test_application_with_command_handler_polls_and_replies():
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_html(f"Welcome, <b>{update.effective_user.first_name}</b>!")

    async def main() -> None:
        async with TelegramEmulator(TOKEN) as emu:
            app = (ApplicationBuilder().token(TOKEN).base_url(f"{emu.base_url}/bot")
                   .base_file_url(f"{emu.base_url}/file/bot").build())
            app.add_handler(CommandHandler("start", start))
            await app.initialize()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            await app.start()
            try:
                emu.send_text(USER, "/start", first_name="Grace")
                [reply] = await emu.wait_for_async(lambda s: s.bot_messages(USER), timeout=10)
                assert reply["text"] == "Welcome, Grace!" and reply["parse_mode"] == "HTML"
            finally:
                await app.updater.stop()
                await app.stop()
                await app.shutdown()
            methods = [m for m, _ in emu.calls]
            assert methods[:2] == ["getMe", "deleteWebhook"] and "sendMessage" in methods
            assert emu.pending_updates() == []  # the shutdown getUpdates confirmed the update

    asyncio.run(asyncio.wait_for(main(), 45))


def test_threaded_server_for_sync_tests():
    emu = TelegramEmulator(TOKEN).start_in_thread()
    try:
        url = f"{emu.base_url}/bot{TOKEN}"
        emu.send_text(USER, "hi")
        assert httpx.post(f"{url}/sendMessage", json={"chat_id": USER, "text": "json"}).json()["ok"]
        assert httpx.post(f"{url}/sendMessage", data={"chat_id": USER, "text": "form"}).json()["ok"]
        assert httpx.get(f"{url}/sendMessage", params={"chat_id": USER, "text": "query"}).json()["ok"]
        bad = httpx.post(f"{url}/sendMessage", data={"chat_id": USER, "text": "<i>", "parse_mode": "HTML"})
        assert bad.status_code == 400
        assert bad.json()["description"].startswith("Bad Request: can't parse entities")
        texts = emu.wait_for(lambda s: [r["text"] for r in s.bot_messages(USER)] or None, timeout=5)
        assert texts == ["json", "form", "query"]

        result: dict = {}
        poller = threading.Thread(target=lambda: result.update(
            httpx.post(f"{url}/getUpdates", data={"offset": 2, "timeout": 5}, timeout=10).json()))
        started = time.monotonic()
        poller.start()
        time.sleep(0.3)
        emu.send_text(USER, "from another thread")
        poller.join(5)
        assert time.monotonic() - started < 2
        assert [u["message"]["text"] for u in result["result"]] == ["from another thread"]
        with pytest.raises(TimeoutError, match="condition not met"):
            emu.wait_for(lambda s: len(s.bot_messages(USER)) > 5, timeout=0.2)
        assert json.loads(json.dumps(emu.calls[0][1])) == {"chat_id": USER, "text": "json"}
    finally:
        emu.stop_thread()
    assert not [t for t in threading.enumerate() if t.name == "telegram-emulator"]


# -- users' messages as Telegram delivers them -------------------------------------------------------------
ADMIN_COMMAND = CommandHandler("admin", lambda update, context: None)


def command_spans(message: dict, key: str = "entities") -> list[tuple[int, int]]:
    return [(e["offset"], e["length"]) for e in message.get(key) or [] if e["type"] == "bot_command"]


def admin_args(update: Update) -> list[str] | None:
    """The args PTB's CommandHandler("admin") would run with, or None if it would not run."""
    checked = ADMIN_COMMAND.check_update(update)
    return checked[0] if checked else None


@pytest.mark.parametrize("text, spans, args", [
    ("/admin. add 5", [(0, 6)], ["add", "5"]),  # the entity ends at the '.'; PTB's args skip the first word
    ("/admin@coursebot_test. add 5", [(0, 21)], ["add", "5"]),
    ("/ADMIN add 5", [(0, 6)], ["add", "5"]),  # PTB lower-cases the command
    ("/admin, add 5", [(0, 6)], ["add", "5"]),
    ("/admin,add 5", [(0, 6)], ["5"]),  # PTB's args are the whitespace-separated words after the first
    ("/admin… add 5", [(0, 6)], ["add", "5"]),
    ("/admin\u200b add 5", [(0, 6)], ["add", "5"]),
    ("/admin\u2003add 5", [(0, 6)], ["add", "5"]),  # an em space: kept, and a separator for str.split
    ("\u200b/admin add 5", [(1, 6)], None),  # a zero-width space is neither trimmed nor a word character
    ("\ufeff/admin add 5", [(1, 6)], None),
    ("hola /start", [(5, 6)], None),
    ("😀 /admin", [(3, 6)], None),  # offsets in UTF-16 code units
    ("/stats /admin", [(0, 6), (7, 6)], None),  # PTB looks at the first entity only
    ("/admin@otro_bot add 5", [(0, 15)], None),  # a command for another bot
    ("/admin@ab add 5", [], None),  # a username under 3 characters: no command at all
    ("/admin/x", [], None),
    ("/adminé", [], None),
    ("a/admin", [], None),
    ("/" + "a" * 64, [(0, 65)], None),  # tdlib allows 64 characters (BotCommand names only 32)
    ("/" + "a" * 65, [], None),
])
def test_bot_command_entities_as_telegram_finds_them_and_what_ptb_runs(text, spans, args):
    async def scenario(emu, bot):
        message = emu.send_text(USER, text)
        assert message["text"] == text and command_spans(message) == spans
        update = Update.de_json({"update_id": 1, "message": message}, bot)
        assert admin_args(update) == args
        assert filters.COMMAND.check_update(update) is bool(spans and spans[0][0] == 0)

    run(scenario)


def test_text_is_cleaned_and_trimmed_like_telegram():
    async def scenario(emu, bot):
        trimmed = emu.send_text(USER, "  \n\t/admin add 5 \n")
        assert trimmed["text"] == "/admin add 5" and command_spans(trimmed) == [(0, 6)]
        assert emu.send_text(USER, "/admin\r\nadd")["text"] == "/admin\nadd"
        assert emu.send_text(USER, "\u200b hola\u00a0")["text"] == "\u200b hola\u00a0"  # not blanks to Telegram
        assert emu.send_text(USER, "a\u202eb\tc")["text"] == "ab c"  # an RTL override removed, a tab a space
        with pytest.raises(ValueError, match="no empty message"):
            emu.send_text(USER, " \n\r ")
        document = emu.send_document(USER, "a.md", b"#", caption="  /ask@coursebot_test x ")
        assert document["caption"] == "/ask@coursebot_test x" and command_spans(document, "caption_entities") == [
            (0, 19)]
        assert "entities" not in document
        bold = [{"type": "bold", "offset": 3, "length": 1}]
        assert clean_text(" a\rb ", bold) == ("ab", [{"type": "bold", "offset": 1, "length": 1}])

    run(scenario)


def test_anonymous_admins_channels_and_channel_posts():
    async def scenario(emu, bot):
        emu.add_chat(USER, GROUP, "supergroup", title="Curso")
        plain = emu.send_text(USER, "hola", chat_id=GROUP)
        assert plain["from"]["id"] == USER and "sender_chat" not in plain
        anonymous = emu.send_text(USER, "/admin add 5", chat_id=GROUP, sender="anonymous_admin")
        assert anonymous["from"] == {"id": 1087968824, "is_bot": True, "first_name": "Group",
                                     "username": "GroupAnonymousBot"} == GROUP_ANONYMOUS_BOT
        assert anonymous["sender_chat"] == anonymous["chat"] == {"id": GROUP, "type": "supergroup", "title": "Curso"}
        as_channel = emu.send_text(USER, "/admin add 5", chat_id=GROUP, sender="channel")
        assert as_channel["from"] == {"id": 136817688, "is_bot": True, "first_name": "Channel",
                                      "username": "Channel_Bot"} == CHANNEL_BOT
        assert as_channel["sender_chat"]["type"] == "channel" and as_channel["sender_chat"]["id"] < 0
        chosen = emu.send_text(USER, "x", chat_id=GROUP, sender="channel", sender_chat_id=CHANNEL)
        assert chosen["sender_chat"] == {"id": CHANNEL, "type": "channel", "title": f"Channel {CHANNEL}"}
        post = emu.send_channel_post(CHANNEL, "/admin add 5", title="Noticias")
        assert "from" not in post and post["sender_chat"] == post["chat"] == {
            "id": CHANNEL, "type": "channel", "title": "Noticias"}
        assert command_spans(post) == [(0, 6)]
        with pytest.raises(ValueError, match="only in groups"):
            emu.send_text(USER, "x", sender="anonymous_admin")
        with pytest.raises(ValueError, match="unknown sender"):
            emu.send_text(USER, "x", chat_id=GROUP, sender="bot")

        [_, anonymous_u, channel_u, _, post_u] = await bot.get_updates()
        assert anonymous_u.effective_user.id == 1087968824 and anonymous_u.effective_sender.id == GROUP
        assert admin_args(anonymous_u) == admin_args(channel_u) == ["add", "5"]  # PTB runs them as commands
        assert channel_u.effective_user.is_bot and channel_u.effective_sender.type == "channel"
        assert post_u.channel_post.text == "/admin add 5" and post_u.effective_user is None
        assert admin_args(post_u) is None  # CommandHandler's default filters leave channel posts out
        emu.add_chat(USER)
        forwarded = await bot.forward_message(USER, CHANNEL, post["message_id"])
        assert forwarded.forward_origin.chat.id == CHANNEL and forwarded.text == "/admin add 5"

    run(scenario)


def test_edit_text_queues_an_edited_message_that_ptb_runs_as_a_command():
    async def scenario(emu, bot):
        emu.clock = lambda: 1_700_000_000.0
        original = emu.send_text(USER, "hola")
        emu.clock = lambda: 1_700_000_090.0
        edited = emu.edit_text(USER, original["message_id"], " /admin add 5 ")
        assert edited["message_id"] == original["message_id"] and edited["text"] == "/admin add 5"
        assert command_spans(edited) == [(0, 6)]
        assert (edited["date"], edited["edit_date"]) == (1_700_000_000, 1_700_000_090)
        [_, update] = await bot.get_updates()
        assert update.message is None and update.edited_message.text == "/admin add 5"
        assert admin_args(update) == ["add", "5"]  # CommandHandler's default filters include edits
        assert "entities" not in emu.edit_text(USER, original["message_id"], "hola otra vez")
        with pytest.raises(ValueError, match="sent no message 99"):
            emu.edit_text(USER, 99, "x")
        theirs = emu.send_text(OTHER, "mío")
        with pytest.raises(ValueError, match="sent no message"):
            emu.edit_text(USER, theirs["message_id"], "x", chat_id=OTHER)
        from_bot = await bot.send_message(USER, "del bot")
        with pytest.raises(ValueError, match="sent no message"):
            emu.edit_text(USER, from_bot.message_id, "x")
        photo = emu.send_photo(USER, b"jpeg", caption="c")
        with pytest.raises(ValueError, match="not a text"):
            emu.edit_text(USER, photo["message_id"], "x")

    run(scenario)


def test_forwards_keep_the_text_and_its_entities_and_say_where_from():
    async def scenario(emu, bot):
        emu.add_chat(1000, first_name="Ada")
        forwarded = emu.send_text(USER, "/admin add 5", forward_from=1000)
        assert forwarded["from"]["id"] == USER and command_spans(forwarded) == [(0, 6)]
        origin = forwarded["forward_origin"]
        assert origin["type"] == "user" and origin["sender_user"]["id"] == 1000 and origin["date"] > 0
        news = emu.send_text(USER, "noticia", forward_from_chat=CHANNEL)
        assert news["forward_origin"]["type"] == "channel" and news["forward_origin"]["message_id"] >= 1
        assert news["forward_origin"]["chat"] == {"id": CHANNEL, "type": "channel", "title": f"Channel {CHANNEL}"}
        [from_user, from_channel] = await bot.get_updates()
        assert from_user.message.forward_origin.sender_user.first_name == "Ada"
        assert admin_args(from_user) == ["add", "5"]  # PTB does not look at forward_origin
        assert from_channel.message.forward_origin.chat.id == CHANNEL
        with pytest.raises(ValueError, match="not a text"):
            emu.edit_text(USER, forwarded["message_id"], "x")

    run(scenario)


def test_media_drivers_and_their_downloads():
    async def scenario(emu, bot):
        emu.add_chat(USER, GROUP, "group")
        photo = emu.send_photo(USER, b"\xff\xd8\xff jpeg", caption="/admin add 5", width=800, height=600)
        [thumb, full] = photo["photo"]
        assert [(s["width"], s["height"]) for s in photo["photo"]] == [(90, 68), (800, 600)]
        assert set(full) == {"file_id", "file_unique_id", "width", "height", "file_size"}
        assert thumb["file_id"] != full["file_id"] and full["file_size"] == 8
        assert command_spans(photo, "caption_entities") == [(0, 6)]
        voice = emu.send_voice(USER, b"OggS voice", duration=3)
        assert voice["voice"]["duration"] == 3 and voice["voice"]["mime_type"] == "audio/ogg"
        sticker = emu.send_sticker(OTHER, emoji="👍", chat_id=GROUP)
        assert sticker["sticker"]["emoji"] == "👍" and sticker["chat"]["type"] == "group"
        animation = emu.send_animation(USER, b"GIF89a", caption="mira")
        assert animation["document"]["file_id"] == animation["animation"]["file_id"]  # as Telegram sends it
        video = emu.send_video(USER, b"ftyp", duration=5, sender="anonymous_admin", chat_id=GROUP)
        assert video["video"]["duration"] == 5 and video["from"]["username"] == "GroupAnonymousBot"
        location = emu.send_location(USER, 4.6, -74.1, reply_to_message_id=photo["message_id"])
        assert location["location"] == {"latitude": 4.6, "longitude": -74.1}
        assert location["reply_to_message"]["message_id"] == photo["message_id"]
        poll = emu.send_poll(USER, "¿Sí?", ["sí", "no"], chat_id=GROUP)
        assert [o["text"] for o in poll["poll"]["options"]] == ["sí", "no"]
        with pytest.raises(ValueError, match="2 to 12 options"):
            emu.send_poll(USER, "?", ["sólo una"])

        updates = await bot.get_updates()
        photo_m, voice_m, sticker_m, animation_m, video_m, location_m, poll_m = (u.message for u in updates)
        assert photo_m.photo[-1].width == 800 and photo_m.caption == "/admin add 5"
        assert admin_args(updates[0]) is None  # CommandHandler reads the text, never a caption
        assert sticker_m.sticker.emoji == "👍" and animation_m.animation and animation_m.document
        assert filters.Document.ALL.check_update(updates[3])  # a GIF passes a documents filter
        assert video_m.video.file_name == "video.mp4" and location_m.location.latitude == 4.6
        assert poll_m.poll.question == "¿Sí?"
        for media, data in ((photo_m.photo[-1], b"\xff\xd8\xff jpeg"), (voice_m.voice, b"OggS voice")):
            file = await media.get_file()
            assert file.file_path.startswith(f"{emu.base_url}/file/bot{TOKEN}/")
            assert bytes(await file.download_as_bytearray()) == data

    run(scenario)


# -- flood control -----------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def retry_seconds(error: RetryAfter) -> float:
    """RetryAfter.retry_after in seconds (an int, or a timedelta when PTB_TIMEDELTA is set)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else value


# RetryAfter warns that retry_after will become a timedelta, already in its constructor
ignore_retry_after_deprecation = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@ignore_retry_after_deprecation
def test_flood_control_over_http_refuses_within_the_window_and_changes_nothing():
    async def scenario(emu, bot):
        emu.clock = clock = FakeClock()
        start = clock.now
        emu.add_chat(USER)
        emu.add_chat(USER, GROUP, "supergroup")
        emu.flood_control(per_group_per_minute=3, retry_after=5)
        url = f"{emu.base_url}/bot{TOKEN}"
        async with httpx.AsyncClient() as client:
            async def send(chat_id: int, text: str) -> httpx.Response:
                return await client.post(f"{url}/sendMessage", json={"chat_id": chat_id, "text": text})

            assert (await send(GROUP, "")).status_code == 400  # a failed call is not counted
            for i in range(3):
                assert (await send(GROUP, f"m{i}")).status_code == 200
                clock.now += 10
            refused = await send(GROUP, "m3")  # 30 s until m0 leaves the window, capped at 5
            assert refused.status_code == 429
            assert refused.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 5",
                                      "parameters": {"retry_after": 5}}
            clock.now = start + 59.5
            assert (await send(GROUP, "m3")).json()["parameters"] == {"retry_after": 1}
            with pytest.raises(RetryAfter) as info:
                await bot.edit_message_text("edited", GROUP, 1)
            assert retry_seconds(info.value) == 1
            clock.now = start + 60
            assert (await send(GROUP, "m3")).status_code == 200
            for i in range(5):  # private chats are not limited unless per_chat_per_minute is set
                assert (await send(USER, f"p{i}")).status_code == 200
        assert [r["text"] for r in emu.bot_messages(GROUP)] == ["m0", "m1", "m2", "m3"]
        assert [(r["method"], r["chat_id"], r["retry_after"]) for r in emu.flood_refusals] == [
            ("sendMessage", GROUP, 5), ("sendMessage", GROUP, 1), ("editMessageText", GROUP, 1)]

        with pytest.raises(ValueError, match="at least 1"):
            emu.flood_control(per_group_per_minute=0)
        emu.flood_control(per_chat_per_minute=2, per_group_per_minute=None)
        await bot.send_message(USER, "a")
        await bot.send_message(USER, "b")
        with pytest.raises(RetryAfter):
            await bot.send_document(USER, b"x", filename="x.txt")
        assert (await bot.send_message(GROUP, "groups unlimited now")).chat.id == GROUP
        assert len(emu.flood_refusals) == 4 and emu.uploaded_files(USER) == []

    run(scenario)


@ignore_retry_after_deprecation
def test_flood_control_through_emulator_request_raises_retry_after():
    from tests.bot.test_app import EmulatorRequest  # imported here: test_app pulls in the bot and knowledge

    async def main() -> None:
        clock = FakeClock()
        emu = TelegramEmulator(TOKEN, clock=clock)  # not started: EmulatorRequest calls its api_ methods
        emu.add_chat(USER, GROUP, "group")
        emu.flood_control(per_group_per_minute=2)
        request = EmulatorRequest(emu)
        async with Bot(TOKEN, request=request, get_updates_request=request) as bot:
            for text in ("m0", "m1"):
                await bot.send_message(GROUP, text)
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(GROUP, "m2")
            assert retry_seconds(info.value) == 3  # the default cap
            clock.now += 60
            assert (await bot.send_message(GROUP, "m2")).text == "m2"
        assert [r["text"] for r in emu.bot_messages(GROUP)] == ["m0", "m1", "m2"]
        assert len(emu.flood_refusals) == 1

    asyncio.run(asyncio.wait_for(main(), 30))
