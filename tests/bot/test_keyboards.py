"""bot/keyboards.py: callback data stays within Telegram's 64 bytes and parses back."""

from __future__ import annotations

from bot.keyboards import Action, answer_keyboard, confirm_delete_keyboard, documents_keyboard, parse


def data_of(markup) -> list[str]:
    return [b.callback_data for row in markup.inline_keyboard for b in row]


def test_answer_keyboard_offers_sources_only_when_there_are_citations():
    assert data_of(answer_keyboard(12, True)) == ["like:12", "dislike:12", "src:12", "esc:12"]
    assert data_of(answer_keyboard(12, False)) == ["like:12", "dislike:12", "esc:12"]


def test_callback_data_round_trips_and_fits():
    big = 2**62
    for markup in (answer_keyboard(big, True), documents_keyboard(big, [(3, "x" * 200)]),
                   confirm_delete_keyboard(big)):
        for data in data_of(markup):
            assert len(data.encode()) <= 64
            action, numbers = parse(data)
            assert action is not None and numbers[0] == big
    assert parse("doc:5:2") == (Action.DOCUMENT, [5, 2])
    assert parse("nope:1") == (None, [])
    assert parse("like:abc") == (None, [])
    assert parse(None) == (None, [])
    assert len({a.value for a in Action}) == len(Action)
