"""The base model: a GGUF file (transformers dequantizes it to a float model) or a Hugging Face id/folder,
with its tokenizer and chat template, and per-architecture LoRA defaults."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from knowledge.settings import CACHE_DIR

from .artifacts import sha256_file
from .errors import AdapterError, ArtifactMissing

log = logging.getLogger(__name__)

# Attention projections: the cheapest targets that still move answer format and citation behaviour.
# Names are the modules' names in transformers' implementations; anything else falls back to peft's "all-linear".
DEFAULT_TARGETS = {
    **{arch: ["q_proj", "k_proj", "v_proj", "o_proj"]
       for arch in ("llama", "qwen2", "qwen3", "mistral", "gemma", "gemma2", "gemma3_text", "granite", "olmo2")},
    "phi3": ["qkv_proj", "o_proj"],
    "gpt2": ["c_attn", "c_proj"],
    "gpt_neox": ["query_key_value", "dense"],
    "falcon": ["query_key_value", "dense"],
}


@dataclass(frozen=True)
class BaseModel:
    spec: str  # as configured
    location: str  # resolved GGUF path, local folder, or hub id
    gguf: bool

    def from_pretrained_args(self) -> tuple[str, dict]:
        """What transformers' `from_pretrained` needs: (folder or id, extra kwargs)."""
        if self.gguf:
            path = Path(self.location)
            return str(path.parent), {"gguf_file": path.name}
        return self.location, {}

    def describe(self, with_hash: bool = True) -> dict:
        out = {"spec": self.spec, "location": self.location, "gguf": self.gguf}
        if self.gguf and with_hash:
            out["sha256"] = sha256_file(Path(self.location))
        return out


def resolve_base(spec: str, models_dir: Path) -> BaseModel:
    """A GGUF name in MODELS_DIR, a GGUF path, a model folder, or (on connected machines) a hub id."""
    path = Path(spec).expanduser()
    if spec.lower().endswith(".gguf"):
        path = path if path.is_absolute() or path.exists() else models_dir.expanduser() / spec
        if not path.is_file():
            raise ArtifactMissing(f"base model {spec}: no such GGUF file ({path})")
        return BaseModel(spec, str(path.resolve()), True)
    if path.is_dir():
        return BaseModel(spec, str(path.resolve()), False)
    return BaseModel(spec, spec, False)  # a hub id: only works with network access


def dense_copy(base: BaseModel, cache: Path = CACHE_DIR) -> BaseModel:
    """A GGUF base as a transformers folder (float32 safetensors + tokenizer), made once and reused.

    transformers re-parses the whole GGUF (vocabulary included, in Python) on every load: about a minute for
    Qwen2.5-0.5B. The copy is keyed by the file's hash and loads in seconds; float32 keeps the dequantized
    weights exact, so training and merging see the same numbers as a direct GGUF load."""
    if not base.gguf:
        return base
    import torch

    sha = sha256_file(Path(base.location))
    target = cache / "hf-bases" / f"{Path(base.location).stem}-{sha[:12]}"
    if not (target / ".complete").is_file():
        log.info("converting %s to a transformers folder (once): %s", base.spec, target)
        tokenizer, model = load_tokenizer(base), load_model(base, torch.float32)
        forget_gguf_origin(model)

        def save(folder: Path) -> None:
            model.save_pretrained(folder, safe_serialization=True)
            tokenizer.save_pretrained(folder)
        publish(target, sha, save)
    return BaseModel(base.spec, str(target), False)


def publish(target: Path, sha: str, save: Callable[[Path], None]) -> None:
    """Save into a folder of this process's own and rename it into place once complete: a killed run leaves no
    half-written copy that looks finished, and two processes converting at once do not clash."""
    tmp = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    save(tmp)
    (tmp / ".complete").write_text(sha + "\n")
    if (target / ".complete").is_file():  # another process finished first: its copy is the same
        shutil.rmtree(tmp)
        return
    shutil.rmtree(target, ignore_errors=True)  # a copy a killed run left without its .complete
    tmp.rename(target)


def load_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    where, kwargs = base.from_pretrained_args()
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
    except (OSError, ValueError) as e:
        raise AdapterError(f"cannot load the tokenizer of {base.spec}: {e}") from e
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base: BaseModel, dtype):
    """The base as a dense float model on CPU (GGUF blocks are dequantized on load)."""
    from transformers import AutoModelForCausalLM, GgufConfig

    where, kwargs = base.from_pretrained_args()
    if base.gguf:  # dense weights in `dtype`: trainable, mergeable, saveable (packed GGUF blocks are none of these)
        kwargs["quantization_config"] = GgufConfig(dequantize=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kwargs)
    except (OSError, ValueError) as e:
        raise AdapterError(f"cannot load {base.spec}: {e}") from e
    return model


def forget_gguf_origin(model) -> None:
    """A model loaded from GGUF refuses `save_pretrained` ('quantized with gguf'); its weights are floats now."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)


def chat_template(tokenizer, what: str) -> str:
    template = tokenizer.chat_template
    if not isinstance(template, str) or not template.strip():
        raise AdapterError(f"{what} has no chat template: the pipeline's prompts cannot be rendered")
    return template


def lora_targets(model_type: str, configured: str) -> list[str] | str:
    if configured != "auto":
        return [m.strip() for m in configured.split(",") if m.strip()]
    return DEFAULT_TARGETS.get(model_type, "all-linear")


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX: bfloat16 matmuls several times faster than float32 (Linux flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_dtype(name: str):
    import torch

    if name == "auto":
        name = "bfloat16" if cpu_has_bf16() else "float32"
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def prefer_passive_threads() -> None:
    """OpenMP threads (torch's and llama.cpp's libgomp) that sleep while waiting instead of spinning.

    On a shared 2-core machine spinning threads starve each other: measured here with another job running, a
    SmolLM2 training forward took 9 s instead of 2 s, and a llama.cpp answer 40-70 s instead of 7 s. libgomp
    reads the variable once, when it is loaded: call this before torch or llama_cpp is imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
