"""A local Telegram Bot API emulator for end-to-end tests (aiohttp, bound to 127.0.0.1).

`TelegramEmulator` serves the Bot API at ``{base_url}/bot<token>/<method>`` and downloads at
``{base_url}/file/bot<token>/<file_path>``. Its base class `BotState` holds users, chats, messages, files
and pending updates, and offers the driver methods tests use to play users (send_text, send_document,
press_button) and to inspect what the bot did (bot_messages, calls, uploaded_files, wait_for).
Driver methods are thread-safe sync methods (plus wait_for_async); a long-polling getUpdates wakes up as
soon as they queue an update. Only what a bot like ours uses is emulated, with Telegram's error descriptions.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MAX_TEXT, MAX_CAPTION, MAX_DOWNLOAD = 4096, 1024, 20 * 1024 * 1024
HTML_TAGS = {"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
             "code", "pre", "blockquote", "tg-emoji"}
ENTITY_OF_TAG = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
                 "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
                 "span": "spoiler", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
                 "blockquote": "blockquote", "a": "text_link", "tg-emoji": "custom_emoji"}
JSON_PARAMS = {"reply_markup", "reply_parameters", "entities", "caption_entities", "allowed_updates",
               "commands", "scope", "link_preview_options"}
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                "upload_document", "choose_sticker", "find_location", "record_video_note",
                "upload_video_note"}
DEFAULT_UPDATES = {"message", "edited_message", "channel_post", "edited_channel_post", "callback_query",
                   "inline_query", "chosen_inline_result", "my_chat_member", "poll", "poll_answer"}
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")


class ApiError(Exception):
    """A Bot API error: becomes {"ok": false, "error_code": code, "description": description}."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


@dataclass
class Upload:
    """A file received in a multipart request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_S, _NAME = "[ \t\n\r\f\v]", "[^ \t\n\r\f\v=>]+"
_ATTR = rf"""({_NAME}){_S}*(?:(=){_S}*("[^"]*"|'[^']*'|[A-Za-z0-9.-]*))?"""
ENTITY = re.compile(r"&(?:#x([0-9a-fA-F]*)|#([0-9]*)|([a-zA-Z]*));?")
TAG_NAME = re.compile(r"<([^ \t\n\r\f\v>]*)")
TAG_REST = re.compile(rf"((?:{_S}+{_ATTR})*){_S}*>")  # attributes, then ">"
ATTRIBUTE = re.compile(rf"{_S}*{_ATTR}")
END_TAG = re.compile(r"</([^ \t\n\r\f\v>]*)[ \t\n\r\f\v]*>")


def _unescape(text: str) -> str:
    """Decode entities as tdlib does: &lt; &gt; &amp; &quot; and numeric ones; any other '&' stays literal."""

    def decode(m: re.Match) -> str:
        if m[3] is not None:
            return {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}.get(m[3], m[0])
        code = int(m[1] or "0", 16) if m[1] is not None else int(m[2] or "0")
        return chr(code) if 0 < code < 0x10FFFF and len(m[0].rstrip(";")) < 10 else m[0]

    return ENTITY.sub(decode, text)


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Parse Telegram's HTML subset like tdlib; returns (plain text, entities) or raises ApiError.

    Tag and nesting errors carry tdlib's descriptions; malformed attributes are all "Unclosed start tag".
    """
    out: list[str] = []
    entities: list[dict] = []
    stack: list[tuple[str, str, int]] = []  # open tags: (name, argument, utf16 offset)
    pos, u16 = 0, 0

    def fail(message: str, at: int = -1, detail: str = "") -> ApiError:
        offset = f" at byte offset {len(text[:at].encode())}" if at >= 0 else ""
        return ApiError(400, f"Bad Request: can't parse entities: {message}{offset}{detail}")

    while True:
        lt = text.find("<", pos)
        chunk = _unescape(text[pos:] if lt < 0 else text[pos:lt])
        out.append(chunk)
        u16 += utf16_len(chunk)
        if lt < 0:
            break
        if text.startswith("</", lt):
            end = END_TAG.match(text, lt)
            if not stack:
                raise fail("Unexpected end tag", lt)
            if not end:
                raise fail("Unclosed end tag", lt)
            tag, arg, start = stack.pop()
            if end[1] and end[1].lower() != tag:
                raise fail("Unmatched end tag", lt, f', expected "</{tag}>", found "</{end[1]}>"')
            if u16 > start:
                entities.append(_tag_entity(tag, arg, start, u16 - start, entities))
            pos = end.end()
            continue
        name = TAG_NAME.match(text, lt)[1]
        if lt + 1 + len(name) >= len(text):
            raise fail("Unclosed start tag", lt)
        tag, rest = name.lower(), TAG_REST.match(text, lt + 1 + len(name))
        if tag not in HTML_TAGS:
            raise fail(f'Unsupported start tag "{tag}"', lt)
        if not rest:
            raise fail("Unclosed start tag", lt)
        arg = ""
        for attr, equals, value in ATTRIBUTE.findall(rest[1]):
            attr = attr.lower()
            if not equals and (tag, attr) != ("blockquote", "expandable"):
                raise fail(f'Expected equal sign in declaration of an attribute of the tag "{tag}"', lt)
            value = _unescape(value[1:-1]) if value[:1] in ("'", '"') else value.lower()
            if (tag, attr) in {("a", "href"), ("span", "class"), ("tg-emoji", "emoji-id")}:
                arg = value
            elif tag == "code" and attr == "class" and value.startswith("language-"):
                arg = value[9:]
            elif tag == "blockquote" and attr == "expandable":
                arg = "expandable"
        if tag == "span" and arg != "tg-spoiler":
            raise fail('Tag "span" must have class "tg-spoiler"', lt)
        stack.append((tag, arg, u16))
        pos = rest.end()
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return "".join(out), sorted(entities, key=lambda e: (e["offset"], -e["length"]))


def _tag_entity(tag: str, arg: str, offset: int, length: int, done: list[dict]) -> dict:
    entity: dict[str, Any] = {"type": ENTITY_OF_TAG[tag], "offset": offset, "length": length}
    last = done[-1] if done else None
    same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
    if tag == "a" and arg:
        entity["url"] = arg
    elif tag == "tg-emoji":
        entity["custom_emoji_id"] = arg
    elif tag == "blockquote" and arg:
        entity["type"] = "expandable_blockquote"
    elif tag == "code" and arg:
        entity["language"] = arg
    elif tag == "pre" and same_span and last["type"] == "code" and last.get("language"):
        done.pop()
        entity["language"] = last["language"]
    return entity


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Strip surrounding whitespace like Telegram does, shifting and clipping the entities."""
    shift, end = utf16_len(text[:len(text) - len(text.lstrip())]), utf16_len(text.rstrip())
    kept = []
    for e in entities:
        start, stop = max(e["offset"], shift), min(e["offset"] + e["length"], end)
        if stop > start:
            kept.append({**e, "offset": start - shift, "length": stop - start})
    return text.strip(), kept


def _int(params: dict, key: str, default: Any = None) -> Any:
    value = params.get(key, default)
    if value is None:
        raise ApiError(400, f"Bad Request: {key} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key} specified") from None


def _bool(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


class BotState:
    """Users, chats, messages, files and updates of one bot, plus the thread-safe test-driver methods."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot"):
        self.token = token
        self.bot_user = {"id": int(token.split(":")[0]), "is_bot": True, "first_name": first_name,
                         "username": username}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)  # file ids, callback query ids
        self._update_ids = itertools.count(1)
        self._updates: list[dict] = []
        self._allowed: set[str] = set(DEFAULT_UPDATES)
        self._users: dict[int, dict] = {}
        self._chats: dict[int, dict] = {}
        self._message_ids: dict[int, itertools.count] = {}
        self._messages: dict[tuple[int, int], dict] = {}  # every message, as the API returns it
        self._records: dict[tuple[int, int], dict] = {}  # the bot's messages, see bot_messages()
        self._files: dict[str, dict] = {}
        self._callbacks: dict[str, dict] = {}
        self._commands: dict[tuple[str, str], list[dict]] = {}
        self._calls: list[tuple[str, dict]] = []
        self._uploads: list[tuple[str, int, int]] = []  # sendDocument uploads: (file_id, chat_id, message_id)

    # --- driver: play users ---------------------------------------------------------------------

    def add_chat(self, user_id: int, chat_id: int | None = None, chat_type: str = "private",
                 first_name: str | None = None, username: str | None = None,
                 title: str | None = None) -> dict:
        """Register (or update) a user and a chat; returns the chat object."""
        with self._lock:
            user = self._user(user_id, first_name, username)
            chat_id = user_id if chat_id is None else chat_id
            if chat_type == "private":
                chat = {"id": chat_id, "type": "private", "first_name": user["first_name"],
                        "username": user["username"]}
            else:
                title = title or self._chats.get(chat_id, {}).get("title") or f"Group {chat_id}"
                chat = {"id": chat_id, "type": chat_type, "title": title}
            self._chats[chat_id] = chat
            self._message_ids.setdefault(chat_id, itertools.count(1))
            return copy.deepcopy(chat)

    def send_text(self, user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private",
                  first_name: str | None = None, username: str | None = None,
                  reply_to_message_id: int | None = None, entities: list[dict] | None = None) -> dict:
        """Queue a text message from a user; bot_command/mention entities are added unless given."""
        if entities is None:
            entities = []
            command = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,32})?", text)
            if command:
                entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command[0])})
            mention = "@" + self.bot_user["username"]
            for m in re.finditer(re.escape(mention) + r"\b", text, re.IGNORECASE):
                if not command or m.start() >= command.end():
                    entities.append({"type": "mention", "offset": utf16_len(text[:m.start()]),
                                     "length": utf16_len(mention)})
        return self._user_message(user_id, chat_id, chat_type, first_name, username, reply_to_message_id,
                                  text=text, entities=entities or None)

    def send_document(self, user_id: int, filename: str, data: bytes, mime_type: str | None = None,
                      chat_id: int | None = None, caption: str | None = None,
                      file_size: int | None = None) -> dict:
        """Queue a message with a document from a user; file_size fakes the size getFile sees."""
        with self._lock:
            document = self._store_file(filename, data, mime_type or "application/octet-stream", file_size)
        with self._lock:
            chat_type = self._chats.get(user_id if chat_id is None else chat_id, {}).get("type", "private")
        return self._user_message(user_id, chat_id, chat_type, None, None, None, document=document,
                                  caption=caption)

    def press_button(self, user_id: int, message_id: int, callback_data: str,
                     chat_id: int | None = None) -> dict:
        """Queue a callback_query for an inline button of a bot message; returns the CallbackQuery."""
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            record = self._records.get((chat_id, message_id))
            if record is None:
                raise ValueError(f"no bot message {message_id} in chat {chat_id}")
            rows = (record["reply_markup"] or {}).get("inline_keyboard", [])
            data = [b.get("callback_data") for row in rows for b in row]
            if callback_data not in data:
                raise ValueError(f"message {message_id} has no button {callback_data!r}; it has {data}")
            user = self._user(user_id)
            query = {"id": str(next(self._ids)), "from": user, "chat_instance": str(chat_id),
                     "message": self._messages[(chat_id, message_id)], "data": callback_data}
            self._callbacks[query["id"]] = {"answered": False}
            return self._queue("callback_query", query)

    # --- driver: inspect the bot ----------------------------------------------------------------

    @property
    def calls(self) -> list[tuple[str, dict]]:
        """Every API call received, as (method, params), oldest first."""
        with self._lock:
            return list(self._calls)

    def bot_messages(self, chat_id: int | None = None) -> list[dict]:
        """The bot's messages (current state; "history" holds the versions before each edit)."""
        with self._lock:
            return [copy.deepcopy(r) for key, r in sorted(self._records.items())
                    if chat_id is None or key[0] == chat_id]

    def uploaded_files(self, chat_id: int | None = None) -> list[dict]:
        """Files the bot uploaded via sendDocument (file_id, file_name, mime_type, data, chat_id, ...)."""
        with self._lock:
            return [{**self._files[file_id], "chat_id": chat, "message_id": message_id}
                    for file_id, chat, message_id in self._uploads if chat_id in (None, chat)]

    def commands(self, scope: dict | None = None, language_code: str = "") -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._commands.get(self._scope_key(scope, language_code), []))

    def pending_updates(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._updates)

    def dump(self, last: int = 15) -> str:
        lines = [f"last {last} calls:"] + [f"  {m} {p}" for m, p in self.calls[-last:]]
        lines += ["bot messages:"] + [f"  chat {r['chat_id']} #{r['message_id']}: {r['text']!r}"
                                      for r in self.bot_messages()]
        return "\n".join(lines)

    def wait_for(self, predicate: Callable[[BotState], Any], timeout: float = 5.0,
                 interval: float = 0.02) -> Any:
        """Poll predicate(self) until truthy (returned) or raise TimeoutError; not from the server's loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is getattr(self, "_loop", None):
            raise RuntimeError("wait_for would block the emulator's event loop: use await wait_for_async")
        deadline = time.monotonic() + timeout
        while not (value := predicate(self)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s\n{self.dump()}")
            time.sleep(interval)
        return value

    async def wait_for_async(self, predicate: Callable[[BotState], Any], timeout: float = 5.0,
                             interval: float = 0.02) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := predicate(self)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout}s\n{self.dump()}")
            await asyncio.sleep(interval)
        return value

    # --- internals (call with the lock held) -----------------------------------------------------

    def _notify(self) -> None:
        """Hook: a new update was queued."""

    def _user(self, user_id: int, first_name: str | None = None, username: str | None = None) -> dict:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False,
                                                "first_name": f"User{user_id}", "username": f"user{user_id}"})
        user.update({k: v for k, v in (("first_name", first_name), ("username", username)) if v})
        return user

    def _queue(self, kind: str, payload: dict) -> dict:
        self._updates.append({"update_id": next(self._update_ids), kind: copy.deepcopy(payload)})
        self._notify()
        return copy.deepcopy(payload)

    def _user_message(self, user_id, chat_id, chat_type, first_name, username, reply_to, **fields) -> dict:
        with self._lock:
            chat = self.add_chat(user_id, chat_id, chat_type, first_name, username)
            message = self._new_message(chat["id"], self._users[user_id], reply_to, **fields)
            return self._queue("message", message)

    def _new_message(self, chat_id: int, sender: dict, reply_to: int | None = None, **fields) -> dict:
        message = {"message_id": next(self._message_ids[chat_id]), "date": int(time.time()),
                   "chat": self._chats[chat_id], "from": sender}
        if reply_to is not None:
            target = self._messages.get((chat_id, reply_to))
            if target is None:
                raise ApiError(400, "Bad Request: message to be replied not found")
            message["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        message.update({k: v for k, v in fields.items() if v is not None})
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _store_file(self, filename: str, data: bytes, mime_type: str, file_size: int | None = None) -> dict:
        n = next(self._ids)
        suffix = filename[filename.rfind("."):] if "." in filename else ""
        info = {"file_id": f"DOC{n:06d}-emulated", "file_unique_id": f"U{n:06d}", "file_name": filename,
                "mime_type": mime_type, "file_size": len(data) if file_size is None else file_size}
        self._files[info["file_id"]] = {**info, "file_path": f"documents/file_{n}{suffix}", "data": data}
        return info

    def _chat(self, params: dict, key: str = "chat_id") -> dict:
        value = params.get(key)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {key} is empty")
        for chat in self._chats.values():
            if str(chat["id"]) == str(value) or ("username" in chat and value == "@" + chat["username"]):
                return chat
        raise ApiError(400, "Bad Request: chat not found")

    @staticmethod
    def _scope_key(scope: dict | None, language_code: str | None) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""


class TelegramEmulator(BotState):
    """The Bot API over HTTP: `await start()`/`stop()` or `async with`; start_in_thread()/stop_thread()."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot", host: str = "127.0.0.1", port: int = 0):
        super().__init__(token, username, first_name)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._waiters: set[asyncio.Future] = set()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._methods = {name[4:].lower(): getattr(self, name) for name in dir(self)
                         if name.startswith("api_")}

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> TelegramEmulator:
        self._loop, self._closing = asyncio.get_running_loop(), False
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake()  # end pending long polls at once
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._loop = None

    async def __aenter__(self) -> TelegramEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> TelegramEmulator:
        """Run the server in a daemon thread with its own event loop (for sync tests)."""
        loop = self._thread_loop = asyncio.new_event_loop()
        started = asyncio.run_coroutine_threadsafe(self.start(), loop)
        self._thread = threading.Thread(target=loop.run_forever, name="telegram-emulator", daemon=True)
        self._thread.start()
        try:
            started.result(timeout)
        except BaseException:
            self.stop_thread(timeout)
            raise
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()
            self._thread = self._thread_loop = None

    def __enter__(self) -> TelegramEmulator:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop_thread()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- HTTP ------------------------------------------------------------------------------------

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    async def _read_params(self, request: web.Request) -> dict:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: parameters must be a JSON object")
            params.update(body)
        elif request.can_read_body:  # application/x-www-form-urlencoded or multipart/form-data
            for key, value in (await request.post()).items():
                params[key] = (Upload(value.filename, value.content_type, value.file.read())
                               if isinstance(value, web.FileField) else value)
        for key in JSON_PARAMS & params.keys():
            if isinstance(params[key], str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:  # Telegram answers 404 to malformed tokens, 401 to unknown ones
            return self._error(401, "Unauthorized") if re.fullmatch(r"\d+:[\w-]+", token) else self._error(
                404, "Not Found")
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
            with self._lock:
                self._calls.append((method, params))
                handler = self._methods.get(method.lower())
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = None if method.lower() == "getupdates" else handler(params)
            if method.lower() == "getupdates":
                result = await self.api_getUpdates(params)
        except ApiError as err:
            return self._error(err.code, err.description)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        with self._lock:
            found = [f for f in self._files.values() if f["file_path"] == request.match_info["path"]]
        if request.match_info["token"] != self.token or not found:
            return self._error(404, "Not Found")
        return web.Response(body=found[0]["data"], content_type="application/octet-stream")

    # --- Bot API methods (api_<name>; all but getUpdates run with the lock held) -----------------

    def api_getMe(self, params: dict) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def api_getUpdates(self, params: dict) -> list[dict]:
        offset, limit = _int(params, "offset", 0), min(max(_int(params, "limit", 100), 1), 100)
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        with self._lock:
            if params.get("allowed_updates") is not None:
                self._allowed = set(params["allowed_updates"] or DEFAULT_UPDATES)
            if offset < 0:
                self._updates = self._updates[offset:]
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if self._allowed & u.keys()]
                if self._updates or self._closing or time.monotonic() >= deadline:
                    return copy.deepcopy(self._updates[:limit])
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)

    def api_deleteWebhook(self, params: dict) -> bool:
        if _bool(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    def api_getWebhookInfo(self, params: dict) -> dict:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def api_close(self, params: dict) -> bool:
        return True

    api_logOut = api_close

    def _formatted(self, params: dict, key: str, limit: int, empty_ok: bool = False) -> dict:
        """Validate a text/caption with its parse_mode; returns the fields to store."""
        raw, mode = params.get(key), params.get("parse_mode") or None
        if raw is None or raw == "":
            if empty_ok:
                return {}
            raise ApiError(400, "Bad Request: message text is empty")
        raw = str(raw)
        entities = params.get("entities" if key == "text" else "caption_entities") or []
        if mode is not None and str(mode).lower() == "html":
            text, entities = parse_html(raw)
        elif mode is None or str(mode).lower() in ("markdown", "markdownv2"):
            text = raw  # Markdown is stored as sent, not parsed
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        text, entities = _trim(text, entities)
        if not text and not empty_ok:
            raise ApiError(400, "Bad Request: message text is empty")
        if len(text) > limit:
            raise ApiError(400, "Bad Request: message is too long" if key == "text"
                           else "Bad Request: message caption is too long")
        return {key: text or None, f"{'' if key == 'text' else 'caption_'}entities": entities or None,
                "raw": raw, "parse_mode": mode}

    @staticmethod
    def _markup(params: dict) -> dict | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards are accepted but not part of the message
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if not button.get("text") or (data is not None and not 1 <= len(str(data).encode()) <= 64):
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _reply_to(self, params: dict, chat_id: int) -> int | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        allow = _bool(reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")))
        if allow and (chat_id, int(message_id)) not in self._messages:
            return None
        return int(message_id)

    def _bot_message(self, chat: dict, params: dict, content: dict, **fields: Any) -> dict:
        markup = self._markup(params)
        reply_to = self._reply_to(params, chat["id"])
        message = self._new_message(chat["id"], self.bot_user, reply_to, reply_markup=markup, **fields,
                                    **{k: v for k, v in content.items() if k not in ("raw", "parse_mode")})
        self._records[(chat["id"], message["message_id"])] = {
            "chat_id": chat["id"], "message_id": message["message_id"], "text": message.get("text"),
            "raw_text": content.get("raw"), "parse_mode": content.get("parse_mode"),
            "entities": message.get("entities") or message.get("caption_entities"), "reply_markup": markup,
            "reply_to_message_id": reply_to, "document": message.get("document"),
            "caption": message.get("caption"), "history": [],
            "message": self._messages[(chat["id"], message["message_id"])]}
        return message

    def api_sendMessage(self, params: dict) -> dict:
        chat = self._chat(params)
        return self._bot_message(chat, params, self._formatted(params, "text", MAX_TEXT))

    def api_editMessageText(self, params: dict) -> dict:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the emulator")
        chat, message_id = self._chat(params), _int(params, "message_id")
        key = (chat["id"], message_id)
        if key not in self._messages:
            raise ApiError(400, "Bad Request: message to edit not found")
        record = self._records.get(key)
        if record is None or record["document"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        content, markup = self._formatted(params, "text", MAX_TEXT), self._markup(params)
        if (content["text"], content["entities"], markup) == (record["text"], record["entities"],
                                                             record["reply_markup"]):
            raise ApiError(400, NOT_MODIFIED)
        record["history"].append({k: record[k] for k in ("text", "raw_text", "parse_mode", "entities",
                                                         "reply_markup")})
        message = self._messages[key]
        for name, value in (("text", content["text"]), ("entities", content["entities"]),
                            ("reply_markup", markup)):
            if value is None:
                message.pop(name, None)
            else:
                message[name] = value
        message["edit_date"] = int(time.time())
        record.update(text=content["text"], raw_text=content["raw"], parse_mode=content["parse_mode"],
                      entities=content["entities"], reply_markup=markup)
        return copy.deepcopy(message)

    def api_sendChatAction(self, params: dict) -> bool:
        self._chat(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    def api_answerCallbackQuery(self, params: dict) -> bool:
        query = self._callbacks.get(str(params.get("callback_query_id")))
        if query is None or query["answered"]:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is "
                                "invalid")
        query.update(answered=True, text=params.get("text"), show_alert=_bool(params.get("show_alert")))
        return True

    def api_setMyCommands(self, params: dict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: commands is empty")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = self._scope_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [{"command": c["command"], "description": c.get("description", "")}
                               for c in commands]
        return True

    def api_getMyCommands(self, params: dict) -> list[dict]:
        return self.commands(params.get("scope"), params.get("language_code") or "")

    def api_deleteMyCommands(self, params: dict) -> bool:
        self._commands.pop(self._scope_key(params.get("scope"), params.get("language_code")), None)
        return True

    def api_getFile(self, params: dict) -> dict:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored["file_size"] > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {k: stored[k] for k in ("file_id", "file_unique_id", "file_size", "file_path")}

    def api_sendDocument(self, params: dict) -> dict:
        chat, document = self._chat(params), params.get("document")
        upload = isinstance(document, Upload)
        if upload:
            info = self._store_file(document.filename, document.data, document.content_type)
        elif isinstance(document, str) and document in self._files:
            info = {k: v for k, v in self._files[document].items() if k not in ("data", "file_path")}
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        content = self._formatted(params, "caption", MAX_CAPTION, empty_ok=True)
        message = self._bot_message(chat, params, content, document=info)
        if upload:
            self._uploads.append((info["file_id"], chat["id"], message["message_id"]))
        return message

    def _copy_source(self, params: dict, what: str) -> dict:
        source = self._chat(params, "from_chat_id")
        message = self._messages.get((source["id"], _int(params, "message_id")))
        if message is None:
            raise ApiError(400, f"Bad Request: message to {what} not found")
        return message

    def api_forwardMessage(self, params: dict) -> dict:
        chat, source = self._chat(params), self._copy_source(params, "forward")
        content = {k: source.get(k) for k in ("text", "entities", "caption", "caption_entities")}
        origin = {"type": "user", "sender_user": source["from"], "date": source["date"]}
        return self._bot_message(chat, {}, content, document=source.get("document"), forward_origin=origin)

    def api_copyMessage(self, params: dict) -> dict:
        chat, source = self._chat(params), self._copy_source(params, "copy")
        content = {k: source.get(k) for k in ("text", "entities", "caption", "caption_entities")}
        if params.get("caption") is not None:
            content.update(self._formatted(params, "caption", MAX_CAPTION, empty_ok=True))
        message = self._bot_message(chat, params, content, document=source.get("document"))
        return {"message_id": message["message_id"]}

    def api_getChat(self, params: dict) -> dict:
        gifts = dict.fromkeys(("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription",
                               "gifts_from_channels"), False)
        return {**self._chat(params), "accent_color_id": 0, "max_reaction_count": 11,
                "accepted_gift_types": gifts}
