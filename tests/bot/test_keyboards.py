"""bot/keyboards.py: callback data stays within Telegram's 64 bytes, parses back, and nothing else parses."""

from __future__ import annotations

from bot.keyboards import Action, answer_keyboard, confirm_delete_keyboard, documents_keyboard, parse


def data_of(markup) -> list[str]:
    return [b.callback_data for row in markup.inline_keyboard for b in row]


def test_answer_keyboard_offers_sources_only_when_there_are_citations():
    assert data_of(answer_keyboard(12, True)) == ["like:12", "dislike:12", "src:12", "esc:12"]
    assert data_of(answer_keyboard(12, False)) == ["like:12", "dislike:12", "esc:12"]


def test_callback_data_round_trips_and_fits():
    big = 2**62
    for markup in (answer_keyboard(big, True), documents_keyboard(big, [(3, "x" * 200)])):
        for data in data_of(markup):
            assert len(data.encode()) <= 64
            action, args = parse(data)
            assert action is not None and int(args[0]) == big
    key = "0123456789abcdef"
    assert [parse(d) for d in data_of(confirm_delete_keyboard(key))] == [(Action.DELETE, [key]), (Action.KEEP, [key])]
    assert parse("doc:5:2") == (Action.DOCUMENT, ["5", "2"])
    assert len({a.value for a in Action}) == len(Action)


def test_data_in_any_other_shape_parses_to_none():
    """A forged or old button (keep:x, del:<row id> from before delete buttons named versions) reaches no handler."""
    for data in (None, "", "nope:1", "like:abc", "like:", "like:1:2", "keep:x", "del:12", "del:0123456789ABCDEF",
                 "del:0123456789abcdef:1", "doc:5", "doc:5:2:1", "esc:" + "9" * 25, "like:-1", "like: 1",
                 "like:1\n", "src:1 "):
        assert parse(data) is None, data
