"""Training's pure parts: left-padded batches, the answer-only loss window, resumable batch order, the schedule."""

import pytest

torch = pytest.importorskip("torch")

from adapters.config import TrainConfig  # noqa: E402
from adapters.train import IGNORE, Encoded, collate, fit_budget, lr_at, micro_batches  # noqa: E402


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
