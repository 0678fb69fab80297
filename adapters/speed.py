"""How fast each servable form of a run is under llama.cpp: the base GGUF (baseline), the merged and quantized
GGUF, and the base GGUF with the runtime LoRA — same prompts, same threads, greedy, a fixed number of new
tokens (end of text is masked so every form writes the same amount).

Reads   GGUF/manifest.json and a few validation prompts from the run's dataset (the pipeline's real prompts)
Prints  prompt tokens/s, generated tokens/s and load seconds per form, side by side
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from .artifacts import VAL, read_json, read_jsonl
from .export import runtime_lora


@dataclass
class Speed:
    form: str
    load_s: float
    prompt_tps: float  # prompt tokens per second (prefill), median over prompts
    gen_tps: float  # generated tokens per second, median over prompts
    prompt_tokens: int  # median prompt length


def forms(manifest: dict) -> dict[str, dict]:
    """The GGUF forms a manifest can serve, as llama.cpp load arguments."""
    out = {}
    base = manifest["base"]
    if base["gguf"]:
        out["base"] = {"model_path": base["location"]}
    out["quantized"] = {"model_path": manifest["gguf"]["path"]}
    if lora := runtime_lora(manifest):
        out["lora"] = {"model_path": base["location"], "lora_path": lora}
    return out


def prompts_of(manifest: dict, n: int) -> list[list[dict]]:
    """The first n validation examples' messages without the answer: prompts exactly as the pipeline builds."""
    rows = read_jsonl(Path(manifest["data"]["path"]) / VAL)[:n]
    return [[m for m in r["messages"] if m["role"] != "assistant"] for r in rows]


def measure(form: str, load: dict, prompts: list[list[dict]], new_tokens: int, threads: int, n_ctx: int) -> Speed:
    import llama_cpp
    import numpy as np
    from llama_cpp import Llama

    start = time.perf_counter()
    llm = Llama(n_ctx=n_ctx, n_threads=threads or os.cpu_count() or 1, verbose=False, **load)  # as the bot does
    load_s = time.perf_counter() - start
    eos, n_vocab = llm.token_eos(), llm.n_vocab()
    prefill, decode, lengths = [], [], []
    try:
        for messages in prompts:
            tokens = llm.tokenize(_render(llm, messages).encode("utf-8"), add_bos=False, special=True)
            llm.reset()  # no prefix cache between prompts: every form pays the full prefill
            t0 = time.perf_counter()
            llm.eval(tokens)
            t1 = time.perf_counter()
            for _ in range(new_tokens):
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(n_vocab,)).copy()
                logits[eos] = -np.inf  # write exactly new_tokens
                llm.eval([int(logits.argmax())])
            t2 = time.perf_counter()
            prefill.append(len(tokens) / (t1 - t0))
            decode.append(new_tokens / (t2 - t1))
            lengths.append(len(tokens))
    finally:
        llm.close()
        del llm
        gc.collect()
    return Speed(form, round(load_s, 2), round(median(prefill), 1), round(median(decode), 1), int(median(lengths)))


def _render(llm, messages: list[dict]) -> str:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata["tokenizer.chat_template"]
    bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "ignore")
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "ignore")
    return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)(messages=messages).prompt


def speed(manifest_path: Path, n_prompts: int = 3, new_tokens: int = 48, threads: int = 0,
          n_ctx: int = 2048) -> list[Speed]:
    manifest = read_json(manifest_path, "run the export stage first")
    prompts = prompts_of(manifest, n_prompts)
    return [measure(form, load, prompts, new_tokens, threads, n_ctx) for form, load in forms(manifest).items()]
