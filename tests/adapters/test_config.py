"""Options: checked against every stage's fields before any work."""

import pytest

from adapters.config import parse_overrides
from adapters.errors import ConfigError


def test_overrides_reach_their_stage_with_their_type():
    c = parse_overrides(["--lora_r=8", "lora-dropout=0.1", "quantization=q8_0", "keep_f16=true", "limit=5"])
    assert c.train.lora_r == 8 and c.train.lora_dropout == 0.1
    assert c.export.quantization == "Q8_0" and c.export.keep_f16 is True and c.gate.limit == 5
    assert parse_overrides(["lora_scale=0.6"]).merge.lora_scale == 0.6 and c.merge.lora_scale == 1.0


@pytest.mark.parametrize("pair, message", [
    ("lora_rank=8", "did you mean 'lora_r'"),
    ("lora_r=eight", "expected int"),
    ("quantization=Q3_K", "quantization must be one of"),
    ("heldout_share=0", "heldout_share"),
    ("dtype=float16", "dtype"),
    ("batch_size", "expected key=value"),
    ("lora_scale=0", "lora_scale must be in"),
    ("field_terms=/no/such/terms.txt", "no such file"),
    ("lora_scale=2.5", "lora_scale must be in"),
])
def test_bad_options_are_rejected_early(pair, message):
    with pytest.raises(ConfigError, match=message):
        parse_overrides([pair])
