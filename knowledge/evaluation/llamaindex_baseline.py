"""Our llama.cpp generator as a LlamaIndex LLM, so LlamaIndex's own query engine can use the same model
(the `llamaindex_default` baseline of `coursebot eval`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseGen,
    LLMMetadata,
)
from llama_index.core.llms.custom import CustomLLM
from pydantic import ConfigDict

from ..answer.generation import LlamaGenerator


class GeneratorLLM(CustomLLM):
    """Chat-template generation through the shared `LlamaGenerator` (no second copy of the model)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    generator: LlamaGenerator
    max_tokens: int = 256

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(context_window=self.generator.n_ctx, num_output=self.max_tokens, is_chat_model=True,
                           model_name=self.generator.name)

    def _stream(self, messages: list[dict]):
        import queue
        import threading

        q: queue.Queue = queue.Queue()
        done = object()

        def work():
            try:
                self.generator.stream(messages, self.max_tokens, q.put)
            finally:
                q.put(done)

        threading.Thread(target=work, daemon=True).start()
        while (piece := q.get()) is not done:
            yield piece

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        msgs = [{"role": m.role.value, "content": m.content or ""} for m in messages]

        def gen():
            text = ""
            for piece in self._stream(msgs):
                text += piece
                yield ChatResponse(message=ChatMessage(role="assistant", content=text), delta=piece)
        return gen()

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        *_, last = self.stream_chat(messages)
        return last

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        def gen():
            text = ""
            for piece in self._stream([{"role": "user", "content": prompt}]):
                text += piece
                yield CompletionResponse(text=text, delta=piece)
        return gen()

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        *_, last = self.stream_complete(prompt)
        return last
