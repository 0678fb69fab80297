"""The model's answer to a repeated question, kept for minutes and served at once.

The key is the question (folded: case, accents, punctuation and spacing do not matter), the conversation turns
the model would see (without earlier asks of this same question: a student repeating it gets the answer they
got), the model, and the passages retrieval chose for it. A chunk's id derives from its file's content, so any
refresh that changes a source the answer was written from changes the key: the stale answer is never served,
whichever process ran the refresh. Retrieval still runs (tens of milliseconds); only the generation is skipped,
and citations and abstention are decided again from the same sources, as for a fresh answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace

from ..text import fold
from .generation import Completion

_WORDS = re.compile(r"\w+")


def folded(question: str) -> str:
    return " ".join(_WORDS.findall(fold(question)))


def answer_key(question: str, history: list[tuple[str, str]], model: str, passage_ids: list[str]) -> str:
    asked = folded(question)
    turns = [[folded(q), a] for q, a in history if folded(q) != asked]
    data = json.dumps([asked, turns, model, passage_ids], ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


class AnswerCache:
    """At most `size` completions, each for `seconds` after it was written; safe across threads."""

    def __init__(self, seconds: float, size: int = 256):
        self.seconds, self.size = seconds, size
        self._items: OrderedDict[str, tuple[float, Completion]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, key: str) -> Completion | None:
        """The completion stored under `key`, as a replay (no time spent, every prompt token 'cached'), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            written, completion = item
            if time.monotonic() - written > self.seconds:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return replace(completion, cached_tokens=completion.prompt_tokens, ttft_ms=0.0, total_ms=0.0, replayed=True)

    def put(self, key: str, completion: Completion) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), completion)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
