"""The merged model under transformers, behind the interface the answer pipeline calls on its generator
(`stream(messages, max_tokens, on_token) -> Completion`, `count_tokens(text)`, `name`), so the gate runs it
through the same `Answerer` — same retrieval, same prompt, same citation attribution and abstention — as the
GGUF models."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from knowledge.answer.generation import Completion

from .base_model import resolve_dtype


class TransformersGenerator:
    """Greedy decoding with llama.cpp's repeat penalty; the text is handed over in one piece."""

    def __init__(self, model_dir: Path, dtype: str = "auto", threads: int = 0):
        self.model_dir, self.dtype_name, self.threads = Path(model_dir), dtype, threads
        self._model = self._tokenizer = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{self.model_dir.name} (transformers)"

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            self._model = AutoModelForCausalLM.from_pretrained(self.model_dir, dtype=resolve_dtype(self.dtype_name))
            self._model.eval()
        return self._model, self._tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under the model's tokenizer (no special tokens added), as `LlamaGenerator`'s."""
        with self._lock:
            _, tokenizer = self._load()
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: list[dict], max_tokens: int, on_token: Callable[[str], None],
               temperature: float = 0.1) -> Completion:
        import torch

        with self._lock:
            model, tokenizer = self._load()
            start = time.perf_counter()
            prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
            if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None:
                ids = torch.cat([torch.tensor([[tokenizer.bos_token_id]]), ids], dim=1)
            with torch.no_grad():
                out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                     do_sample=False, repetition_penalty=1.1, eos_token_id=tokenizer.eos_token_id,
                                     pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            new = out[0, ids.shape[1]:]
            text = tokenizer.decode(new, skip_special_tokens=True)
            if text:
                on_token(text)
            total = (time.perf_counter() - start) * 1000
            return Completion(text, ids.shape[1], 0, len(new), total, total)

    def close(self) -> None:
        self._model = self._tokenizer = None
