"""Constants, errors and parameter helpers shared by the emulator's modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_TEXT, MAX_CAPTION, MAX_DOWNLOAD = 4096, 1024, 20 * 1024 * 1024
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
