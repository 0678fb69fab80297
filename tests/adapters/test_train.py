"""Training's parts: left-padded batches, the answer-only loss window, resumable batch order, the schedule, the
weight of the citation tokens (on SmolLM2's real tokenizer and model)."""

import pytest

torch = pytest.importorskip("torch")

from adapters.config import TrainConfig  # noqa: E402
from adapters.train import (  # noqa: E402
    IGNORE,
    Encoded,
    batch_loss,
    citation_spans,
    collate,
    encode,
    fit_budget,
    lr_at,
    micro_batches,
    token_weights,
)


def test_left_padding_puts_every_answer_at_the_end_and_keeps_only_the_answer_span():
    a = Encoded([1, 2, 3, 4, 5], [IGNORE, IGNORE, IGNORE, 4, 5])  # answer = last 2 tokens
    b = Encoded([6, 7, 8], [IGNORE, 7, 8])
    batch = collate([a, b], pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [0, 0, 6, 7, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 1, 2]]
    # the first answer token sits at position 3 (row 0) → logits from position 2 on are needed
    assert batch["keep"] == 3
    targets = batch["labels"][:, batch["labels"].shape[1] - batch["keep"] + 1:]
    assert targets.tolist() == [[4, 5], [7, 8]]


def test_resuming_continues_the_same_batch_order():
    full = micro_batches(10, 3, seed=1)
    first = [next(full) for _ in range(9)]
    resumed = micro_batches(10, 3, seed=1, start=5)
    assert [next(resumed) for _ in range(4)] == first[5:]
    assert sorted(i for b in first[:4] for i in b) == list(range(10))  # one epoch covers every example


def test_schedule_warms_up_then_decays_to_a_tenth():
    cfg = TrainConfig(learning_rate=1e-3, warmup_steps=4)
    assert lr_at(0, 100, cfg) == pytest.approx(2.5e-4) and lr_at(3, 100, cfg) == pytest.approx(1e-3)
    assert lr_at(99, 100, cfg) == pytest.approx(1e-4, rel=0.01)


def test_time_budget_shrinks_the_step_count_to_what_fits_but_never_below_what_is_done():
    cfg = TrainConfig(max_minutes=10)
    assert fit_budget(total=1000, step=3, seconds=30.0, cfg=cfg) == 60  # 10 s a step → 60 steps in 10 minutes
    assert fit_budget(total=40, step=3, seconds=30.0, cfg=cfg) == 40  # the plan fits: unchanged
    assert fit_budget(total=1000, step=80, seconds=900.0, cfg=cfg) == 80  # over budget: stop at the step done


def test_token_weights_fall_on_tokens_that_overlap_a_marker_number():
    text = "La tasa es 0.01 [2] y en 2024 [1, 3]."
    spans = citation_spans(text)
    assert [text[a:b] for a, b in spans] == ["2", "1", "3"]
    # tokens: 'La', ' [', '2', ']', ' 2024', ' [1', ',', ' 3', '].'
    offsets = [(0, 2), (15, 17), (17, 18), (18, 19), (24, 29), (29, 32), (32, 33), (33, 35), (35, 37)]
    assert token_weights(offsets, spans, 5.0) == [1.0, 1.0, 5.0, 1.0, 1.0, 5.0, 1.0, 5.0, 1.0]


@pytest.fixture(scope="module")
def tiny():
    from adapters.base_model import dense_copy, load_model, load_tokenizer, resolve_base
    from tests.conftest import MODELS_DIR, TINY_MODEL

    if not TINY_MODEL.is_file():
        pytest.skip(f"{TINY_MODEL} is not installed (run the setup)")
    weights = dense_copy(resolve_base(str(TINY_MODEL), MODELS_DIR))
    return load_tokenizer(weights), load_model(weights, torch.float32)


MESSAGES = [{"role": "system", "content": "Responde con las fuentes [1] a [3]."},
            {"role": "user", "content": "[1] La tasa es 0.01.\n\n¿Cuál es la tasa en 2024?"},
            {"role": "assistant", "content": "La tasa es 0.01 [1], también en 2024 [2, 3]."}]


def test_citation_weight_marks_only_the_answers_marker_numbers(tiny):
    tokenizer, _ = tiny
    plain, weighted = encode(tokenizer, MESSAGES), encode(tokenizer, MESSAGES, citation_weight=5.0)
    assert plain.weights is None and (plain.ids, plain.labels) == (weighted.ids, weighted.labels)
    heavy = [tokenizer.decode([t]).strip() for t, w in zip(weighted.ids, weighted.weights, strict=True) if w == 5.0]
    assert heavy == ["1", "2", "3"]  # not the [1] of the prompt, not 0.01 or 2024
    assert all(label != IGNORE for label, w in zip(weighted.labels, weighted.weights, strict=True) if w != 1.0)


def test_weighted_loss_adds_the_extra_weight_of_the_citation_tokens_only(tiny):
    tokenizer, model = tiny
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        runs = {w: batch_loss(model, collate([encode(tokenizer, MESSAGES, w)], pad), torch.float32) for w in (1, 2, 5)}
    (l1, n1), (l2, n2), (l5, n5) = ((float(loss), n) for loss, n in (runs[1], runs[2], runs[5]))
    assert n2 - n1 == 3 and n5 - n1 == 12  # three citation tokens, weight 2 and 5
    assert l2 > l1 and l5 - l1 == pytest.approx(4 * (l2 - l1), rel=1e-3)
