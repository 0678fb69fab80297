"""Inline keyboards and their callback data: every prefix lives in `Action` (data ≤ 64 bytes)."""

from __future__ import annotations

from enum import StrEnum

from telegram import InlineKeyboardButton, InlineKeyboardMarkup


class Action(StrEnum):
    LIKE = "like"  # like:<answer id>
    DISLIKE = "dislike"  # dislike:<answer id>
    SOURCES = "src"  # src:<answer id>
    DOCUMENT = "doc"  # doc:<answer id>:<citation n>
    ESCALATE = "esc"  # esc:<answer id>
    DELETE = "del"  # del:<source row id>  (admin)
    KEEP = "keep"  # keep:<source row id>  (admin: cancel a delete)

    def data(self, *args: int | str) -> str:
        return ":".join([self.value, *map(str, args)])

    @property
    def pattern(self) -> str:
        return rf"^{self.value}:"


ADMIN_ACTIONS = {Action.DELETE, Action.KEEP}


def parse(data: str | None) -> tuple[Action | None, list[int]]:
    """('like:12') -> (Action.LIKE, [12]); unknown or malformed data -> (None, [])."""
    prefix, _, rest = (data or "").partition(":")
    try:
        return Action(prefix), [int(x) for x in rest.split(":") if x]
    except ValueError:
        return None, []


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


def confirm_delete_keyboard(source_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("🗑️ Sí, borrar", callback_data=Action.DELETE.data(source_id)),
                                  InlineKeyboardButton("Cancelar", callback_data=Action.KEEP.data(source_id))]])
