"""The Bot API methods (api_<name>) over BotState, except the long-polling getUpdates (server.py)."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .common import (
    CHAT_ACTIONS,
    DEFAULT_UPDATES,
    MAX_CAPTION,
    MAX_DOWNLOAD,
    MAX_TEXT,
    NOT_MODIFIED,
    ApiError,
    Upload,
    _bool,
    _int,
    _suffix,
)
from .html import _trim, parse_html
from .state import BotState


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


class BotApi(BotState):
    """BotState plus the Bot API methods; TelegramEmulator serves them over HTTP."""

    # --- Bot API methods (api_<name>; all but getUpdates run with the lock held) -----------------

    def api_getMe(self, params: dict) -> dict:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    def api_setWebhook(self, params: dict) -> bool:
        """Telegram's rules: an HTTPS URL on port 443, 80, 88 or 8443 — except for a local Bot API server
        (`local=True`, like telegram-bot-api --local), which accepts HTTP and any port; a secret token of
        1-256 characters A-Z a-z 0-9 _ -. An empty url removes the webhook."""
        url, secret = str(params.get("url") or ""), params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url:
            parts = urlsplit(url)
            if parts.scheme not in (("http", "https") if self.local else ("https",)) or not parts.hostname:
                raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            if not self.local and (parts.port or 443) not in (443, 80, 88, 8443):
                raise ApiError(400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 "
                                    "or 8443")
        if params.get("allowed_updates") is not None:
            self._allowed = set(params["allowed_updates"] or DEFAULT_UPDATES)
        if _bool(params.get("drop_pending_updates")):
            self._updates.clear()
        self._webhook = {"url": url, "secret_token": secret}
        self._notify()
        return True

    def api_deleteWebhook(self, params: dict) -> bool:
        if _bool(params.get("drop_pending_updates")):
            self._updates.clear()
        self._webhook = {"url": ""}
        return True

    def api_getWebhookInfo(self, params: dict) -> dict:
        info = {"url": self._webhook["url"], "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}
        if self._webhook.get("last_error_message"):
            info.update(last_error_date=self._webhook["last_error_date"],
                        last_error_message=self._webhook["last_error_message"])
        return info

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
