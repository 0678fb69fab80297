"""Saved llama.cpp states of recent answers, so a follow-up question does not read its conversation again.

A follow-up's prompt starts with the previous request's prompt and answer (`knowledge.answer.prompt` places the
conversation so), which is exactly what the KV cache held when that answer ended. llama.cpp already reuses the
live KV cache for a shared prefix, but only the last request's: another student's question in between replaces
it. So after each answer the state is saved here (about 29 KB per token for the 1.5B, tens of milliseconds), and
before each request the saved state sharing the longest prefix with the new prompt is restored when it shares
more than the live one — then only the new question and its sources are read.

llama-cpp-python's own `LlamaRAMCache` would do this, but its states also copy the logits buffer (n_batch ×
vocabulary floats: 311 MB for Qwen2.5) and are not counted in its capacity; these hold the KV state and the
tokens only, bounded in bytes, least recently used first out.
"""

from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Saved:
    tokens: np.ndarray  # what the KV cache held: the prompt and the answer's tokens that were evaluated
    data: bytes  # llama_state_get_data


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading tokens two token arrays share."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


class KVStates:
    """At most `capacity_bytes` of saved states; safe across threads (the generator calls it under its lock)."""

    def __init__(self, capacity_bytes: int, min_tokens: int = 32):
        self.capacity_bytes, self.min_tokens = capacity_bytes, min_tokens
        self._saved: OrderedDict[bytes, Saved] = OrderedDict()
        self._lock = threading.Lock()
        self.restored = 0  # requests that started from a saved state

    @property
    def size(self) -> int:
        with self._lock:
            return self._bytes()

    def _bytes(self) -> int:  # with the lock held
        return sum(len(s.data) for s in self._saved.values())

    def __len__(self) -> int:
        return len(self._saved)

    def save(self, llama) -> None:
        """Keep the state llama.cpp holds now (after an answer), under the tokens it holds."""
        import llama_cpp

        n = llama.n_tokens
        if n < self.min_tokens:
            return
        size = llama_cpp.llama_state_get_size(llama._ctx.ctx)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(llama._ctx.ctx, buffer, size)
        if written > self.capacity_bytes:
            return
        tokens = np.array(llama.input_ids[:n], dtype=np.intc)
        saved = Saved(tokens, ctypes.string_at(buffer, written))
        key = tokens.tobytes()
        with self._lock:
            self._saved.pop(key, None)
            self._saved[key] = saved
            total = self._bytes()
            while total > self.capacity_bytes:
                _, dropped = self._saved.popitem(last=False)
                total -= len(dropped.data)

    def best(self, prompt: np.ndarray) -> tuple[Saved | None, int]:
        """The saved state sharing the longest prefix with `prompt`, and that prefix's length."""
        with self._lock:
            found, length = None, 0
            for saved in self._saved.values():
                if (shared := common_prefix(saved.tokens, prompt)) > length:
                    found, length = saved, shared
            if found is not None:
                self._saved.move_to_end(found.tokens.tobytes())
            return found, length

    def restore(self, llama, prompt: list[int]) -> int:
        """Load the saved state that shares more of `prompt` than the live KV cache does; returns how many of the
        prompt's tokens are then in the cache (llama.cpp's own prefix match reads only the rest)."""
        import llama_cpp

        tokens = np.array(prompt, dtype=np.intc)
        live = common_prefix(llama.input_ids[: llama.n_tokens], tokens)
        saved, shared = self.best(tokens)
        if saved is None or shared <= live:
            return live
        state = (ctypes.c_uint8 * len(saved.data)).from_buffer_copy(saved.data)
        if llama_cpp.llama_state_set_data(llama._ctx.ctx, state, len(saved.data)) != len(saved.data):
            llama.reset()  # a state that does not load: read the whole prompt, as without a saved one
            return 0
        llama.input_ids[: len(saved.tokens)] = saved.tokens
        llama.n_tokens = len(saved.tokens)
        llama._requires_eval = True  # the logits are not restored: llama.cpp evaluates at least one token again
        self.restored += 1
        return shared
