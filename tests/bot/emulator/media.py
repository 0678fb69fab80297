"""Drivers for the media, polls and locations users send (a mixin of BotState)."""

from __future__ import annotations

from typing import Any

from .common import _suffix


class MediaDrivers:
    """BotState's drivers for media; they build on BotState._user_message and _store_file."""

    # --- driver: media, locations and polls users send ---------------------------------------------
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
