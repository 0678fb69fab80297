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
import functools
import itertools
import json
import math
import re
import threading
import time
import unicodedata
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
# The senders Telegram puts in `from` when a message is not signed by a user.
GROUP_ANONYMOUS_BOT = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}
FLOOD_WINDOW = 60.0  # seconds; flood_control's limits are per minute


class ApiError(Exception):
    """A Bot API error: {"ok": false, "error_code", "description"}, plus "parameters" for a retry_after."""

    def __init__(self, code: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.code, self.description, self.retry_after = code, description, retry_after

    def as_json(self) -> dict:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


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


def _trim(text: str, entities: list[dict], chars: str | None = None) -> tuple[str, list[dict]]:
    """Strip surrounding `chars` (default: any whitespace), shifting and clipping the entities."""
    shift, end = utf16_len(text[:len(text) - len(text.lstrip(chars))]), utf16_len(text.rstrip(chars))
    kept = []
    for e in entities:
        start, stop = max(e["offset"], shift), min(e["offset"] + e["length"], end)
        if stop > start:
            kept.append({**e, "offset": start - shift, "length": stop - start})
    return text.strip(chars), kept


# What tdlib's fix_formatted_text removes from a message's text (Telegram's apps and the Bot API server run it):
# "\r", U+2028-U+202E (line/paragraph separators, bidi embeddings and overrides) and three combining marks.
# https://github.com/tdlib/td/blob/master/td/telegram/MessageEntity.cpp
REMOVED_CHARS = frozenset("\r\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u030a\u0333\u033f")


def clean_text(text: str, entities: list[dict] = ()) -> tuple[str, list[dict]]:
    """A user's text as Telegram stores it (tdlib's fix_formatted_text): control characters but "\\n" become
    spaces, REMOVED_CHARS go, then spaces and newlines around are trimmed; entities move with their text.

    Other blanks (U+00A0, U+2003, a zero-width space, a BOM) are kept, at the ends too."""
    out: list[str] = []
    new_offset, u16 = [0], 0  # new_offset[i]: where the old UTF-16 offset i lands
    for ch in text:
        if ch not in REMOVED_CHARS:
            out.append(" " if ch < " " and ch != "\n" else ch)
            u16 += utf16_len(ch)
        new_offset += [u16] * utf16_len(ch)
    moved = [{**e, "offset": new_offset[e["offset"]],
              "length": new_offset[e["offset"] + e["length"]] - new_offset[e["offset"]]} for e in entities]
    return _trim("".join(out), [e for e in moved if e["length"] > 0], chars=" \n")


def _is_word_char(ch: str) -> bool:
    """tdlib's is_word_character: a letter, a number or '_'."""
    return ch == "_" or unicodedata.category(ch)[0] in "LN"


def find_bot_commands(text: str) -> list[tuple[int, int]]:
    """(start, end) of each bot command in text, as tdlib's match_bot_commands finds them.

    A command is '/' + 1-64 of [A-Za-z0-9_], optionally '@' + 3-32 of them (a bot username, part of the
    command); neither the character before the '/' nor the one after the command may be a word character,
    '/', '<' or '>'. So "/admin." and "/admin…" are commands, "/admin/x", "/adminé" and "a/admin" are not.
    """
    spans = []
    for m in re.finditer(r"/([A-Za-z0-9_]*)(@[A-Za-z0-9_]*)?", text):
        start, end = m.span()
        before, after = text[start - 1:start], text[end:end + 1]
        if ((before and (_is_word_char(before) or before in "/<>")) or not 1 <= len(m[1]) <= 64
                or (m[2] is not None and not 3 <= len(m[2]) - 1 <= 32)
                or (after and (_is_word_char(after) or after in "/<>"))):
            continue
        spans.append((start, end))
    return spans


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


def _suffix(filename: str) -> str:
    return filename[filename.rfind("."):] if "." in filename else ""


def flood_limited(method: Callable[[BotState, dict], Any]) -> Callable[[BotState, dict], Any]:
    """For api_ methods that send or edit: flood control may refuse the call (see BotState.flood_control)."""

    @functools.wraps(method)
    def call(self: BotState, params: dict) -> Any:
        with self._lock:
            chat = self._flood_limited_chat(params)
            if chat is not None:
                self._check_flood(method.__name__[4:], chat)
            result = method(self, params)
            if chat is not None:
                self._sent_at.setdefault(chat["id"], []).append(self.clock())
            return result

    return call


class BotState:
    """Users, chats, messages, files and updates of one bot, plus the thread-safe test-driver methods.

    `clock` (seconds since the epoch) dates messages and drives flood control; tests may replace it."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot", clock: Callable[[], float] = time.time):
        self.token, self.clock = token, clock
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

    # --- driver: more of what users send (media, channel posts, edits) ------------------------------
    # Each returns the queued message. kwargs are send_text's: chat_id, chat_type, reply_to_message_id, sender,
    # sender_chat_id, forward_from, forward_from_chat (see _user_message). A caption gets caption_entities.

    def send_photo(self, user_id: int, data: bytes, caption: str | None = None, width: int = 1280,
                   height: int = 720, **kwargs: Any) -> dict:
        """Queue a photo: a thumbnail and the full size, both serving `data`."""
        scale = min(1.0, 90 / max(width, height))
        sizes = [(max(1, round(width * scale)), max(1, round(height * scale))), (width, height)]
        with self._lock:
            photo = [{**self._store_file(data, "photos", ".jpg"), "width": w, "height": h} for w, h in sizes]
        return self._user_message(user_id, photo=photo, **kwargs, **self._user_text(caption, "caption"))

    def send_voice(self, user_id: int, data: bytes, duration: int, mime_type: str = "audio/ogg",
                   caption: str | None = None, **kwargs: Any) -> dict:
        with self._lock:
            voice = {**self._store_file(data, "voice", ".oga", mime_type=mime_type), "duration": duration}
        return self._user_message(user_id, voice=voice, **kwargs, **self._user_text(caption, "caption"))

    def send_sticker(self, user_id: int, emoji: str = "😀", **kwargs: Any) -> dict:
        with self._lock:
            sticker = {**self._store_file(b"RIFF\0\0\0\0WEBP", "stickers", ".webp"), "type": "regular",
                       "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji}
        return self._user_message(user_id, sticker=sticker, **kwargs)

    def send_animation(self, user_id: int, data: bytes, caption: str | None = None, width: int = 320,
                       height: int = 240, duration: int = 2, file_name: str = "animation.mp4",
                       **kwargs: Any) -> dict:
        """Queue a GIF-like animation; as in Telegram, `document` describes the same file (so it passes
        filters.Document too)."""
        with self._lock:
            document = self._store_file(data, "animations", ".mp4", file_name=file_name, mime_type="video/mp4")
        animation = {**document, "width": width, "height": height, "duration": duration}
        return self._user_message(user_id, animation=animation, document=document, **kwargs,
                                  **self._user_text(caption, "caption"))

    def send_video(self, user_id: int, data: bytes, caption: str | None = None, width: int = 640,
                   height: int = 360, duration: int = 3, file_name: str = "video.mp4",
                   mime_type: str = "video/mp4", **kwargs: Any) -> dict:
        with self._lock:
            video = {**self._store_file(data, "videos", _suffix(file_name), file_name=file_name,
                                        mime_type=mime_type), "width": width, "height": height,
                     "duration": duration}
        return self._user_message(user_id, video=video, **kwargs, **self._user_text(caption, "caption"))

    def send_location(self, user_id: int, latitude: float, longitude: float, **kwargs: Any) -> dict:
        return self._user_message(user_id, location={"latitude": latitude, "longitude": longitude}, **kwargs)

    def send_poll(self, user_id: int, question: str, options: list[str], **kwargs: Any) -> dict:
        """Queue a regular anonymous poll with 2-12 options and no votes, with the fields PTB 22.8 requires."""
        if not 2 <= len(options) <= 12:
            raise ValueError("a poll has 2 to 12 options")
        with self._lock:
            poll_id = str(next(self._ids))
            poll = {"id": poll_id, "question": question,
                    "options": [{"text": option, "voter_count": 0, "persistent_id": f"{poll_id}-{i}"}
                                for i, option in enumerate(options)],
                    "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
                    "allows_multiple_answers": False, "allows_revoting": True, "members_only": False}
        return self._user_message(user_id, poll=poll, **kwargs)

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


class TelegramEmulator(BotState):
    """The Bot API over HTTP: `await start()`/`stop()` or `async with`; start_in_thread()/stop_thread()."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot", host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time):
        super().__init__(token, username, first_name, clock)
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
    def _error(error: ApiError) -> web.Response:
        return web.json_response(error.as_json(), status=error.code)

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
            return self._error(ApiError(401, "Unauthorized") if re.fullmatch(r"\d+:[\w-]+", token)
                               else ApiError(404, "Not Found"))
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
            return self._error(err)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        with self._lock:
            found = [f for f in self._files.values() if f["file_path"] == request.match_info["path"]]
        if request.match_info["token"] != self.token or not found:
            return self._error(ApiError(404, "Not Found"))
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

    @flood_limited
    def api_sendMessage(self, params: dict) -> dict:
        chat = self._chat(params)
        return self._bot_message(chat, params, self._formatted(params, "text", MAX_TEXT))

    @flood_limited
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
        message["edit_date"] = int(self.clock())
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

    @flood_limited
    def api_sendDocument(self, params: dict) -> dict:
        chat, document = self._chat(params), params.get("document")
        upload = isinstance(document, Upload)
        if upload:
            info = self._store_file(document.data, "documents", _suffix(document.filename),
                                    file_name=document.filename, mime_type=document.content_type)
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

    @flood_limited
    def api_forwardMessage(self, params: dict) -> dict:
        chat, source = self._chat(params), self._copy_source(params, "forward")
        content = {k: source.get(k) for k in ("text", "entities", "caption", "caption_entities")}
        origin = ({"type": "user", "sender_user": source["from"], "date": source["date"]} if "from" in source
                  else {"type": "channel", "chat": source["chat"], "message_id": source["message_id"],
                        "date": source["date"]})  # a channel post
        return self._bot_message(chat, {}, content, document=source.get("document"), forward_origin=origin)

    @flood_limited
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
