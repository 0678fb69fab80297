"""The Telegram Bot API emulator, driven by real python-telegram-bot networking (no mocks)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import BadRequest, EndPointNotFound, InvalidToken
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.bot.emulator import TelegramEmulator

TOKEN = "123456:TEST-TOKEN"
USER = 4242

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
