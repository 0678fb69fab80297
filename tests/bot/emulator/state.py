"""A local Telegram Bot API emulator for end-to-end tests (aiohttp, bound to 127.0.0.1).

`TelegramEmulator` serves the Bot API at ``{base_url}/bot<token>/<method>`` and downloads at
``{base_url}/file/bot<token>/<file_path>``. Its base class `BotState` holds users, chats, messages, files
and pending updates, and offers the driver methods tests use to play users (send_text, send_document,
press_button, edit_text, the media drivers, senders "as" a group or a channel, forwards) and to inspect what
the bot did (bot_messages, calls, uploaded_files, flood_refusals, wait_for).
Driver methods are thread-safe sync methods (plus wait_for_async); a long-polling getUpdates wakes up as
soon as they queue an update. Only what a bot like ours uses is emulated, with Telegram's error descriptions.
Users' texts are stored as Telegram stores them (cleaned and trimmed, bot_command entities found as tdlib
finds them), so that tests see the spellings a real client produces.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .common import CHANNEL_BOT, DEFAULT_UPDATES, FLOOD_WINDOW, GROUP_ANONYMOUS_BOT, ApiError, _suffix
from .html import clean_text, find_bot_commands, utf16_len
from .media import MediaDrivers


class BotState(MediaDrivers):
    """Users, chats, messages, files and updates of one bot, plus the thread-safe test-driver methods.

    `clock` (seconds since the epoch) dates messages and drives flood control; tests may replace it."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot", clock: Callable[[], float] = time.time, local: bool = False):
        self.token, self.clock, self.local = token, clock, local
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
        self._authors: dict[tuple[int, int], int] = {}  # users' messages -> the user who wrote it
        self._records: dict[tuple[int, int], dict] = {}  # the bot's messages, see bot_messages()
        self._files: dict[str, dict] = {}
        self._callbacks: dict[str, dict] = {}
        self._commands: dict[tuple[str, str], list[dict]] = {}
        self._calls: list[tuple[str, dict]] = []
        self._uploads: list[tuple[str, int, int]] = []  # sendDocument uploads: (file_id, chat_id, message_id)
        self._flood: dict[str, int | None] | None = None  # limits per chat kind, see flood_control()
        self._sent_at: dict[int, list[float]] = {}  # chat id -> clock() of its sends counted by flood control
        self._refusals: list[dict] = []
        self._webhook: dict[str, Any] = {"url": ""}  # setWebhook's url, secret_token; delivery's last error
        self.deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status) of every webhook delivery attempt

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

    def send_text(self, user_id: int, text: str, chat_id: int | None = None, chat_type: str | None = None,
                  first_name: str | None = None, username: str | None = None,
                  reply_to_message_id: int | None = None, entities: list[dict] | None = None,
                  **kwargs: Any) -> dict:
        """Queue a text message from a user, stored as Telegram stores it (see clean_text); its bot_command
        entities and mentions of the bot are found unless `entities` are given.

        kwargs: sender, sender_chat_id, forward_from, forward_from_chat (see _user_message)."""
        return self._user_message(user_id, chat_id=chat_id, chat_type=chat_type, first_name=first_name,
                                  username=username, reply_to_message_id=reply_to_message_id, **kwargs,
                                  **self._user_text(text, "text", entities))

    def send_document(self, user_id: int, filename: str, data: bytes, mime_type: str | None = None,
                      chat_id: int | None = None, caption: str | None = None,
                      file_size: int | None = None, **kwargs: Any) -> dict:
        """Queue a message with a document from a user; file_size fakes the size getFile sees."""
        with self._lock:
            document = self._store_file(data, "documents", _suffix(filename), file_size, file_name=filename,
                                        mime_type=mime_type or "application/octet-stream")
        return self._user_message(user_id, chat_id=chat_id, document=document, **kwargs,
                                  **self._user_text(caption, "caption"))

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

    # --- driver: channel posts and edits (media drivers: media.py) -----------------------------------

    def add_channel(self, channel_id: int, title: str | None = None) -> dict:
        """Register (or retitle) a channel; returns the chat object."""
        with self._lock:
            title = title or self._chats.get(channel_id, {}).get("title") or f"Channel {channel_id}"
            self._chats[channel_id] = {"id": channel_id, "type": "channel", "title": title}
            self._message_ids.setdefault(channel_id, itertools.count(1))
            return copy.deepcopy(self._chats[channel_id])

    def send_channel_post(self, channel_id: int, text: str, title: str | None = None) -> dict:
        """Queue a channel_post update: a post in a channel where the bot is (no `from`; sender_chat and chat
        are the channel)."""
        with self._lock:
            channel = self.add_channel(channel_id, title)
            post = self._new_message(channel_id, None, sender_chat=channel, **self._user_text(text, "text"))
            return self._queue("channel_post", post)

    def edit_text(self, user_id: int, message_id: int, new_text: str, chat_id: int | None = None) -> dict:
        """The user edits a text message of theirs: queues an edited_message update and returns the message
        (same message_id, new text and entities, edit_date set). ValueError if there is no such message."""
        chat_id = user_id if chat_id is None else chat_id
        with self._lock:
            key = (chat_id, message_id)
            message = self._messages.get(key)
            if message is None or self._authors.get(key) != user_id:
                raise ValueError(f"user {user_id} sent no message {message_id} in chat {chat_id}")
            if "text" not in message or "forward_origin" in message:
                raise ValueError(f"message {message_id} is not a text of theirs that Telegram lets them edit")
            message.pop("entities", None)
            message.update({k: v for k, v in self._user_text(new_text, "text").items() if v is not None})
            message["edit_date"] = int(self.clock())
            return self._queue("edited_message", message)

    # --- driver: flood control ------------------------------------------------------------------

    def flood_control(self, per_chat_per_minute: int | None = None, per_group_per_minute: int | None = 20,
                      retry_after: int = 3, window: float = FLOOD_WINDOW) -> None:
        """Turn on Telegram-like flood control (off by default): a sending or editing method called for a
        group (or, with per_chat_per_minute, a private chat) more often than its limit within a sliding
        minute answers 429 "Too Many Requests: retry after X" and changes nothing.

        X is the whole seconds until the window lets one more call through, at least 1 and at most
        `retry_after` (so a client that waits it out keeps tests short; like Telegram, its retry may be
        refused again). Only calls that succeed are counted. None turns a limit off. `window` shortens Telegram's
        minute for tests (with retry_after ≥ window, X is exactly the wait Telegram would announce)."""
        if any(limit is not None and limit < 1 for limit in (per_chat_per_minute, per_group_per_minute)):
            raise ValueError("a flood limit is at least 1 call per minute (None turns it off)")
        with self._lock:
            self._flood = {"private": per_chat_per_minute, "group": per_group_per_minute,
                           "retry_after": retry_after, "window": window}
            self._sent_at.clear()

    @property
    def flood_refusals(self) -> list[dict]:
        """Calls flood control refused, oldest first: {"method", "chat_id", "retry_after", "at" (clock)}."""
        with self._lock:
            return copy.deepcopy(self._refusals)

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

    def file_bytes(self, file_id: str) -> bytes | None:
        """What a download of `file_id` serves (a user's photo, voice note, document…), or None."""
        with self._lock:
            stored = self._files.get(file_id)
            return None if stored is None else stored["data"]

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

    def _user_message(self, user_id: int, chat_id: int | None = None, chat_type: str | None = None,
                      first_name: str | None = None, username: str | None = None,
                      reply_to_message_id: int | None = None, sender: str = "user",
                      sender_chat_id: int | None = None, forward_from: int | None = None,
                      forward_from_chat: int | None = None, **content: Any) -> dict:
        """Queue a message a user wrote; returns it.

        chat_type defaults to the chat's registered type (else "private"). sender: "user"; "anonymous_admin"
        (an anonymous group administrator: from GroupAnonymousBot, sender_chat the group); "channel" (posting
        in a group as the channel sender_chat_id, by default one of the user's own: from Channel_Bot).
        forward_from (a user id) or forward_from_chat (a channel id) make it a forward: forward_origin is set,
        the text and its entities are kept."""
        with self._lock:
            chat_id = user_id if chat_id is None else chat_id
            chat_type = chat_type or self._chats.get(chat_id, {}).get("type", "private")
            chat = self.add_chat(user_id, chat_id, chat_type, first_name, username)
            author, sender_chat = self._sender(user_id, chat, sender, sender_chat_id)
            message = self._new_message(chat_id, author, reply_to_message_id, sender_chat=sender_chat,
                                        forward_origin=self._forward_origin(forward_from, forward_from_chat),
                                        **content)
            self._authors[(chat_id, message["message_id"])] = user_id
            return self._queue("message", message)

    def _sender(self, user_id: int, chat: dict, sender: str, channel_id: int | None) -> tuple[dict, dict | None]:
        """(from, sender_chat) of a message the user sends as `sender`."""
        if sender == "user":
            return self._users[user_id], None
        if sender not in ("anonymous_admin", "channel"):
            raise ValueError(f"unknown sender {sender!r}: use 'user', 'anonymous_admin' or 'channel'")
        if chat["type"] not in ("group", "supergroup"):
            raise ValueError(f"sender={sender!r} exists only in groups, not in a {chat['type']} chat")
        if sender == "anonymous_admin":
            return dict(GROUP_ANONYMOUS_BOT), chat
        return dict(CHANNEL_BOT), self.add_channel(-(10**12 + user_id) if channel_id is None else channel_id)

    def _forward_origin(self, user_id: int | None, channel_id: int | None) -> dict | None:
        date = int(self.clock())
        if user_id is not None:
            return {"type": "user", "sender_user": copy.deepcopy(self._user(user_id)), "date": date}
        if channel_id is not None:  # as if forwarding a new post of that channel
            channel = self.add_channel(channel_id)
            return {"type": "channel", "chat": channel, "message_id": next(self._message_ids[channel_id]),
                    "date": date}
        return None

    def _user_text(self, text: str | None, key: str, entities: list[dict] | None = None) -> dict:
        """A user's text or caption, cleaned, with its entities: {key: ..., "entities"/"caption_entities": ...}."""
        if text is None:
            return {}
        text, given = clean_text(text, entities or [])
        if not text and key == "text":
            raise ValueError("Telegram's apps send no empty message")
        found = given if entities is not None else self._find_entities(text)
        return {key: text or None, "entities" if key == "text" else "caption_entities": found or None}

    def _find_entities(self, text: str) -> list[dict]:
        """bot_command entities (find_bot_commands) and mentions of this bot, in UTF-16 units."""

        def entity(kind: str, start: int, end: int) -> dict:
            return {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}

        commands = find_bot_commands(text)
        entities = [entity("bot_command", start, end) for start, end in commands]
        mention = "@" + self.bot_user["username"]
        for m in re.finditer(re.escape(mention) + r"\b", text, re.IGNORECASE):
            if not any(start <= m.start() < end for start, end in commands):
                entities.append(entity("mention", m.start(), m.end()))
        return sorted(entities, key=lambda e: e["offset"])

    def _new_message(self, chat_id: int, sender: dict | None, reply_to: int | None = None, **fields) -> dict:
        message = {"message_id": next(self._message_ids[chat_id]), "date": int(self.clock()),
                   "chat": self._chats[chat_id]}
        if sender is not None:  # channel posts have none
            message["from"] = sender
        if reply_to is not None:
            target = self._messages.get((chat_id, reply_to))
            if target is None:
                raise ApiError(400, "Bad Request: message to be replied not found")
            message["reply_to_message"] = {k: v for k, v in target.items() if k != "reply_to_message"}
        message.update({k: v for k, v in fields.items() if v is not None})
        self._messages[(chat_id, message["message_id"])] = message
        return copy.deepcopy(message)

    def _store_file(self, data: bytes, folder: str, suffix: str = "", file_size: int | None = None,
                    **fields: Any) -> dict:
        """Keep a file getFile and downloads serve; returns its description (file_id, ..., fields)."""
        n = next(self._ids)
        info = {"file_id": f"{folder[:3].upper()}{n:06d}-emulated", "file_unique_id": f"U{n:06d}", **fields,
                "file_size": len(data) if file_size is None else file_size}
        self._files[info["file_id"]] = {**info, "file_path": f"{folder}/file_{n}{suffix}", "data": data}
        return info

    def _chat(self, params: dict, key: str = "chat_id") -> dict:
        value = params.get(key)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {key} is empty")
        for chat in self._chats.values():
            if str(chat["id"]) == str(value) or ("username" in chat and value == "@" + chat["username"]):
                return chat
        raise ApiError(400, "Bad Request: chat not found")

    def _flood_limit(self, chat: dict) -> int | None:
        if self._flood is None:
            return None
        return self._flood.get("group" if chat["type"] in ("group", "supergroup") else chat["type"])

    def _flood_limited_chat(self, params: dict) -> dict | None:
        """The chat of a call flood control limits, or None."""
        if self._flood is None or params.get("chat_id") in (None, ""):
            return None
        chat = self._chat(params)
        return chat if self._flood_limit(chat) is not None else None

    def _check_flood(self, method: str, chat: dict) -> None:
        """Raise 429 if the chat already had its limit of calls within the last minute."""
        now, limit, window = self.clock(), self._flood_limit(chat), self._flood["window"]
        recent = self._sent_at[chat["id"]] = [t for t in self._sent_at.get(chat["id"], []) if t > now - window]
        if len(recent) < limit:
            return
        wait = recent[-limit] + window - now  # when the oldest counted call leaves the window
        retry_after = max(1, min(self._flood["retry_after"], math.ceil(wait)))
        self._refusals.append({"method": method, "chat_id": chat["id"], "retry_after": retry_after, "at": now})
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    @staticmethod
    def _scope_key(scope: dict | None, language_code: str | None) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""
