"""`coursebot bench`'s latency levers, each on and off in the same run on the same questions (issue 25).

Prompt-lookup speculative decoding: a cited answer copies phrases of its sources, so the next tokens can often
be guessed from n-grams of the prompt and checked in one batched forward pass. Measured as the bot serves
(its sampling settings) and greedily (where the output must be byte-identical with and without it).
The answer cache: the same question asked again (a student repeating it, or a classmate) on unchanged sources.
"""

from __future__ import annotations

import time
from dataclasses import replace

from knowledge.answer.answerer import Answerer
from knowledge.answer.generation import LlamaGenerator
from knowledge.answer.prompt import build_messages
from knowledge.core import Knowledge

from .report import Figure, at_least, at_most, percentile

DRAFT_TOKENS = 10  # what the "on" side drafts when the configured generator drafts nothing


def _timed(generator: LlamaGenerator, messages: list[dict], max_tokens: int, temperature: float) -> dict:
    # the state a request finds in service, the same for both sides: only the system prompt in the KV cache
    generator.llama.create_chat_completion(messages=[messages[0], {"role": "user", "content": "ok"}], max_tokens=1)
    steps = generator.draft.steps if generator.draft else 0
    start = time.perf_counter()
    done = generator.stream(messages, max_tokens, lambda piece: None, temperature=temperature)
    total = (time.perf_counter() - start) * 1000
    writing = max(total - done.ttft_ms, 1e-6) / 1000
    return {"text": done.text, "total": total, "tokens": done.completion_tokens,
            "tps": done.completion_tokens / writing,
            "steps": (generator.draft.steps - steps) if generator.draft else done.completion_tokens}


def bench_prompt_lookup(kb: Knowledge, questions: list[str], temperature: float = 0.1) -> list[Figure]:
    """The configured generator's model with prompt lookup off and on, on the pipeline's own messages."""
    s, answerer = kb.settings, kb.answerer
    draft = s.generator_draft_tokens or DRAFT_TOKENS
    lora = s.model_path(s.generator_lora) if s.generator_lora else None
    sides = {n: LlamaGenerator(s.model_path(s.generator_model), s.n_ctx, s.n_threads, lora_path=lora,
                               lora_scale=s.generator_lora_scale, draft_tokens=n) for n in (0, draft)}
    max_tokens = s.max_answer_tokens
    rows = []
    for q in questions:
        retrieved = answerer.retrieve(q)
        if not retrieved.passages:
            continue
        messages = build_messages(answerer.system, retrieved.passages, q)
        served = {n: _timed(g, messages, max_tokens, temperature) for n, g in sides.items()}
        greedy = {n: _timed(g, messages, max_tokens, 0.0)["text"] for n, g in sides.items()}
        rows.append((served, greedy[0] == greedy[draft]))
    if not rows:
        return []
    off = [r[0][0] for r in rows]
    on = [r[0][draft] for r in rows]
    tokens, steps = sum(r["tokens"] for r in on), sum(r["steps"] for r in on)
    drafted = sides[draft].draft.drafted if sides[draft].draft else 0
    note = f"{sides[0].name}, {sides[0].n_threads} threads, {len(rows)} questions, ≤ {max_tokens} tokens"
    return [
        Figure("answers", f"answer total p50, prompt lookup on ({draft} drafted)", percentile([r["total"] for r in on],
               50), "ms", at_most(1.0, relative=True), percentile([r["total"] for r in off], 50),
               "prompt lookup off, same messages", note),
        Figure("answers", "tokens/s written p50, prompt lookup on", percentile([r["tps"] for r in on], 50), "tok/s",
               None, percentile([r["tps"] for r in off], 50), "prompt lookup off",
               f"temperature {temperature:g} (as served)"),
        Figure("answers", "tokens per forward pass, prompt lookup on", tokens / max(steps, 1), "tok", None, 1.0,
               "one token per pass (off)", f"{max(tokens - steps, 0)} of {drafted} drafted tokens kept"),
        Figure("answers", "greedy answers identical with prompt lookup", sum(same for _, same in rows) / len(rows),
               "share", at_least(1.0), 1.0, "all of them", "temperature 0, byte for byte"),
    ]


def bench_answer_cache(kb: Knowledge, questions: list[str], minutes: float = 10.0) -> list[Figure]:
    """Each question asked, then asked again, through an answerer with the cache on: first vs repeated total."""
    cached = Answerer(kb.retriever, kb.generator, settings=replace(kb.answerer.settings, cache_seconds=minutes * 60))
    first, again, same = [], [], 0
    try:
        for q in questions:
            one = cached.answer(q)
            two = cached.answer(q)
            first.append(one.timings["total_ms"])
            again.append(two.timings["total_ms"])
            same += two.answer == one.answer and two.citations == one.citations
    finally:
        cached.queue.stop()
    return [Figure("answers", "repeated question total p50, answer cache on", percentile(again, 50), "ms",
                   at_most(0.10, relative=True), percentile(first, 50), "the first time it was asked",
                   f"{same} of {len(questions)} repeats the same answer and citations; retrieval still runs")]
