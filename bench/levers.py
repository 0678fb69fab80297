"""`coursebot bench`'s latency levers, each on and off in the same run on the same questions (issue 25).

Prompt-lookup speculative decoding: a cited answer copies phrases of its sources, so the next tokens can often
be guessed from n-grams of the prompt and checked in one batched forward pass. Measured as the bot serves
(its sampling settings) and greedily (where the output must be byte-identical with and without it).
The answer cache: the same question asked again (a student repeating it, or a classmate) on unchanged sources.
Follow-ups: scripted conversations, another student's question between every two turns, each follow-up sent as
it serves (continuing its previous prompt and answer, restored from the saved KV state) and as before (the
questions and answers alone, nothing saved).
"""

from __future__ import annotations

import time
from dataclasses import replace

from knowledge.answer.answerer import Answerer
from knowledge.answer.generation import LlamaGenerator
from knowledge.answer.prompt import Exchange, build_messages
from knowledge.core import Knowledge

from .report import Figure, at_least, at_most, percentile

DRAFT_TOKENS = 10  # what the "on" side drafts when the configured generator drafts nothing


def _local(s, **options) -> LlamaGenerator:
    """Another copy of the configured in-process generator (its model, LoRA and threads), with `options`."""
    lora = s.model_path(s.generator_lora) if s.generator_lora else None
    return LlamaGenerator(s.model_path(s.generator_model), s.n_ctx, s.n_threads, lora_path=lora,
                          lora_scale=s.generator_lora_scale, **options)


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
    sides = {n: _local(s, draft_tokens=n) for n in (0, draft)}
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


def _conversations(questions: list[str], turns: int) -> list[list[str]]:
    """Consecutive questions as conversations of `turns` (at least two each)."""
    talks = [questions[i:i + turns] for i in range(0, len(questions), turns)]
    return [t for t in talks if len(t) >= 2]


def _interrupt(answerer: Answerer) -> None:
    """Another request between two turns (short: it only has to take the live KV cache, as another student's would)."""
    messages = [{"role": "system", "content": answerer.system}, {"role": "user", "content": "Hola"}]
    answerer.generator.stream(messages, 1, lambda piece: None)


def bench_follow_ups(kb: Knowledge, questions: list[str], turns: int = 3) -> list[Figure]:
    """Each follow-up's uncached prompt tokens, TTFT and total, continued (as served) vs questions and answers only."""
    s = kb.settings
    talks = _conversations(questions, turns)
    if not talks:
        return []
    state_mb = s.generator_state_cache_mb or 256
    settings = replace(kb.answerer.settings, cache_seconds=0)
    sides = {name: Answerer(kb.retriever, _local(s, state_cache_mb=mb), settings=settings)
             for name, mb in (("continued", state_mb), ("compact", 0))}
    rows: dict[str, list[dict]] = {name: [] for name in sides}
    chained: list[bool] = []  # per follow-up: whether the continued side's prompt continued the previous one
    try:
        for talk in talks:
            for name, answerer in sides.items():
                history: list[Exchange] = []
                for n, question in enumerate(talk):
                    result = answerer.answer(question, history)
                    if n:
                        rows[name].append(result.timings)
                        if name == "continued":
                            chained.append(bool(history) and bool(history[-1].prompt) and
                                           result.exchange.prompt[:len(history[-1].prompt)] == history[-1].prompt)
                    if not result.abstained:  # as the bot remembers them
                        history.append(result.exchange if name == "continued" else
                                       Exchange(question, result.answer))
                    _interrupt(answerer)
    finally:
        for answerer in sides.values():
            answerer.queue.stop()
    on, off = rows["continued"], rows["compact"]

    def p50(timings: list[dict], key: str) -> float:
        return percentile([t["prompt_tokens"] - t["cached_tokens"] if key == "uncached" else t[key] for t in timings],
                          50)

    states = sides["continued"].generator.states
    note = (f"{sides['compact'].generator.name}, {len(talks)} conversations of ≤ {turns}, {len(on)} follow-ups "
            f"({sum(chained)} continued their previous prompt; the rest followed a declined answer, which is not "
            "remembered, or did not fit)")
    figures = [
        Figure("follow_ups", "follow-up uncached prompt tokens p50, continued", p50(on, "uncached"), "tok",
               at_most(0.6, relative=True), p50(off, "uncached"), "questions and answers only, no state", note),
        Figure("follow_ups", "follow-up prompt tokens p50, continued", p50(on, "prompt_tokens"), "tok", None,
               p50(off, "prompt_tokens"), "questions and answers only", "the earlier turns' sources are in the prompt"),
        Figure("follow_ups", "follow-up TTFT p50, continued", p50(on, "ttft_ms"), "ms", at_most(1.0, relative=True),
               p50(off, "ttft_ms"), "questions and answers only"),
        Figure("follow_ups", "follow-up total p50, continued", p50(on, "total_ms"), "ms", None, p50(off, "total_ms"),
               "questions and answers only"),
    ]
    if any(chained):  # the lever where it applies: the follow-ups that continued, against the same ones compact
        kept_on = [t for t, c in zip(on, chained, strict=True) if c]
        kept_off = [t for t, c in zip(off, chained, strict=True) if c]
        figures += [Figure("follow_ups", "uncached tokens p50, those continued",
                           p50(kept_on, "uncached"), "tok", None, p50(kept_off, "uncached"), "the same ones compact",
                           f"{len(kept_on)} follow-ups"),
                    Figure("follow_ups", "TTFT p50, those continued", p50(kept_on, "ttft_ms"), "ms",
                           None, p50(kept_off, "ttft_ms"), "the same ones compact")]
    return [*figures, Figure("follow_ups", "saved KV states", states.size / 2**20 if states else 0.0, "MB",
                             at_most(state_mb), float(state_mb), "COURSEBOT_GENERATOR_STATE_CACHE_MB",
                             f"{len(states) if states else 0} states, {states.restored if states else 0} restored")]
