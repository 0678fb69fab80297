"""Inline keyboards and their callback data: every prefix and the exact shape of its arguments live in `Action`
(data ≤ 64 bytes). Data in any other shape — an old button, a forged one — parses to None and reaches no handler."""

from __future__ import annotations

import re
from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

_ID = r"\d{1,19}"  # a database row id
KEY = r"[0-9a-f]{16}"  # a stable key: bot.materials.source_key, a digest of a source's path and version


class Action(StrEnum):
    LIKE = "like"  # like:<answer id>
    DISLIKE = "dislike"  # dislike:<answer id>
    SOURCES = "src"  # src:<answer id>
    DOCUMENT = "doc"  # doc:<answer id>:<citation n>
    ESCALATE = "esc"  # esc:<answer id>
    DELETE = "del"  # del:<source key>  (admin)
    KEEP = "keep"  # keep:<source key>  (admin: cancel a delete)

    def data(self, *args: int | str) -> str:
        return ":".join([self.value, *map(str, args)])

    @property
    def pattern(self) -> str:
        """The whole callback data of this action, arguments included (PTB's CallbackQueryHandler pattern)."""
        return rf"^{self.value}:{ARGUMENTS[self]}$"


ARGUMENTS = {Action.LIKE: _ID, Action.DISLIKE: _ID, Action.SOURCES: _ID, Action.DOCUMENT: rf"{_ID}:\d{{1,3}}",
             Action.ESCALATE: _ID, Action.DELETE: KEY, Action.KEEP: KEY}


def parse(data: str | None) -> tuple[Action, list[str]] | None:
    """'doc:12:2' -> (Action.DOCUMENT, ['12', '2']); unknown or malformed data -> None."""
    prefix, _, _ = (data or "").partition(":")
    try:
        action = Action(prefix)
    except ValueError:
        return None
    if not re.fullmatch(action.pattern, data or ""):
        return None
    return action, data.split(":")[1:]


def answer_keyboard(answer_id: int, has_sources: bool) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton("👍", callback_data=Action.LIKE.data(answer_id)),
             InlineKeyboardButton("👎", callback_data=Action.DISLIKE.data(answer_id))]]
    second = [InlineKeyboardButton("🙋 Preguntar al equipo", callback_data=Action.ESCALATE.data(answer_id))]
    if has_sources:
        second.insert(0, InlineKeyboardButton("📄 Ver fuente", callback_data=Action.SOURCES.data(answer_id)))
    rows.append(second)
    return InlineKeyboardMarkup(rows)


def documents_keyboard(answer_id: int, files: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """One button per cited document that can be sent: (citation n, file name)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(f"📎 {name[:50]}", callback_data=Action.DOCUMENT.data(
        answer_id, n))] for n, name in files])


def confirm_delete_keyboard(source_key: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("🗑️ Sí, borrar", callback_data=Action.DELETE.data(source_key)),
                                  InlineKeyboardButton("Cancelar", callback_data=Action.KEEP.data(source_key))]])
