"""Telegram's HTML parse_mode and the text cleaning Telegram applies to users' texts."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .common import ApiError

HTML_TAGS = {"a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
             "code", "pre", "blockquote", "tg-emoji"}
ENTITY_OF_TAG = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
                 "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
                 "span": "spoiler", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
                 "blockquote": "blockquote", "a": "text_link", "tg-emoji": "custom_emoji"}


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
