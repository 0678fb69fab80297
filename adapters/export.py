"""Stage 4 — GGUF export: the vendored llama.cpp converter (f16), then llama.cpp's quantizer, then a manifest.

The converter is the one shipped in the installed llama-cpp-python's source archive
(~/.cache/coursebot/sdist/llama_cpp_python-VERSION.tar.gz), extracted once into
~/.cache/coursebot/llama.cpp-convert/VERSION/: the GGUF it writes matches the llama.cpp that will load it,
and nothing is downloaded at run time. The chat template travels in the GGUF (`tokenizer.chat_template`), so
llama.cpp renders prompts exactly as training did; the manifest records whether it is byte-identical.

Reads   MERGED/ (safetensors, tokenizer, chat_template.jinja, merge_config.json)
Writes  GGUF/model-QUANT.gguf, adapter-F16.gguf (runtime LoRA for the base GGUF), manifest.json,
        export_config.json, convert.log, convert_lora.log
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from knowledge.settings import CACHE_DIR

from .artifacts import EXPORT_CONFIG, MANIFEST, read_json, sha256_file, sha256_text, write_json
from .config import ExportConfig, as_dict
from .errors import ArtifactMissing, ExportFailed

log = logging.getLogger(__name__)

# a quantized file's size relative to the f16 GGUF, rounded up (measured: Qwen2.5 1.5B 0.31, 0.5B 0.39)
SIZE_VS_F16 = {"Q4_K_M": 0.40, "Q5_K_M": 0.45, "Q8_0": 0.55, "F16": 0.0}
CONVERTER_PARTS = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")


# -- the vendored converter ----------------------------------------------------------------------------
def converter_dir(cache: Path = CACHE_DIR) -> Path:
    """The converter of the installed llama-cpp-python, extracted from its sdist on first use."""
    import llama_cpp

    version = llama_cpp.__version__
    target = cache / "llama.cpp-convert" / version
    if (target / ".complete").is_file():
        return target
    sdist = cache / "sdist" / f"llama_cpp_python-{version}.tar.gz"
    if not sdist.is_file():
        raise ArtifactMissing(f"{sdist} not found: the GGUF converter comes from llama-cpp-python's source "
                              "archive (scripts/setup.sh downloads it)")
    prefix = f"llama_cpp_python-{version}/vendor/llama.cpp/"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)
                   and m.name[len(prefix):].startswith(CONVERTER_PARTS)]
        if not any(m.name.endswith("convert_hf_to_gguf.py") for m in members):
            raise ExportFailed(f"{sdist} has no vendor/llama.cpp/convert_hf_to_gguf.py")
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(tmp, members=members, filter="data")
        (Path(tmp) / ".complete").write_text(sha256_file(sdist) + "\n")
        Path(tmp).rename(target)  # atomic: a half-extracted converter is never used
    return target


def _run_converter(script: str, args: list[str], outfile: Path, log_file: Path, what: str) -> Path:
    """One of the vendored converters, in a subprocess (it imports its own gguf-py), its output in log_file."""
    cmd = [sys.executable, str(converter_dir() / script), *args]
    with log_file.open("w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0 or not outfile.is_file():
        outfile.unlink(missing_ok=True)  # a half-written GGUF must not look like a result
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-15:])
        raise ExportFailed(f"{what} failed (exit {result.returncode}); see {log_file}:\n{tail}")
    return outfile


def convert(merged_dir: Path, outfile: Path, log_file: Path) -> Path:
    """HF folder → f16 GGUF."""
    return _run_converter("convert_hf_to_gguf.py", [str(merged_dir), "--outfile", str(outfile), "--outtype", "f16"],
                          outfile, log_file, "GGUF conversion")


def convert_lora(adapter_dir: Path, config_dir: Path, outfile: Path, log_file: Path) -> Path:
    """peft adapter → f16 GGUF LoRA; `config_dir` holds the base's config.json (the merged folder has it)."""
    return _run_converter("convert_lora_to_gguf.py", ["--base", str(config_dir), "--outtype", "f16", "--outfile",
                                                      str(outfile), str(adapter_dir)],
                          outfile, log_file, "LoRA conversion")


def quantize(src: Path, dst: Path, quantization: str, threads: int = 0) -> Path:
    import llama_cpp

    # llama.cpp logs every tensor through llama-cpp-python's logger; only its errors are worth showing
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quantization}")
    params.nthread = threads
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) != 0:
        dst.unlink(missing_ok=True)
        raise ExportFailed(f"llama.cpp could not quantize {src.name} to {quantization}")
    return dst


def runtime_lora(manifest: dict) -> str | None:
    """The adapter GGUF llama.cpp can apply to the base GGUF at load, when the export has one (else None)."""
    lora = manifest["adapter"].get("gguf") or {}
    return lora.get("path") if manifest["base"]["gguf"] else None


def gguf_facts(path: Path) -> dict:
    """What a GGUF says about itself: architecture, file type, chat template, tokenizer."""
    from gguf import GGUFReader

    fields = GGUFReader(path).fields

    def value(key):
        return fields[key].contents() if key in fields else None

    template = value("tokenizer.chat_template")
    tokens = value("tokenizer.ggml.tokens") or []
    return {"architecture": value("general.architecture"), "file_type": value("general.file_type"),
            "chat_template": template, "tokenizer_pre": value("tokenizer.ggml.pre"), "n_vocab": len(tokens),
            "tokens_sha256": sha256_text("\x00".join(tokens))}


def file_type_of(quantization: str) -> int:
    import llama_cpp

    return int(getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{quantization}"))


# -- the stage -----------------------------------------------------------------------------------------
def space_needed(weights_bytes: int, dtype: str, quantization: str) -> int:
    """Bytes the export writes at its peak: the f16 GGUF and the quantized file beside it, plus a little for
    the runtime LoRA and metadata (the merged weights' size and dtype give the f16 GGUF's)."""
    f16 = weights_bytes // 2 if dtype == "float32" else weights_bytes
    return int(f16 * (1 + SIZE_VS_F16[quantization])) + 64 * 2**20


def check_space(out_dir: Path, need: int) -> None:
    free = shutil.disk_usage(out_dir).free
    if free < need:
        raise ExportFailed(f"not enough disk space in {out_dir}: {free / 2**30:.1f} GiB free, about "
                           f"{need / 2**30:.1f} GiB needed for the f16 GGUF and its quantized copy")


def export(merged_dir: Path, out_dir: Path, cfg: ExportConfig, threads: int = 0) -> Path:
    """Convert and quantize; write the manifest beside the GGUF. Returns the GGUF's path."""
    from .artifacts import MERGE_CONFIG
    from .merge import scaled_adapter

    merged = read_json(merged_dir / MERGE_CONFIG, "run the merge stage first")
    out_dir.mkdir(parents=True, exist_ok=True)
    f16 = out_dir / "model-F16.gguf"
    weights = sum(f.stat().st_size for f in merged_dir.glob("*.safetensors"))
    config = read_json(merged_dir / "config.json", "the merged model's config")
    dtype = config.get("dtype") or config.get("torch_dtype") or "float16"
    check_space(out_dir, space_needed(weights, dtype, cfg.quantization))
    convert(merged_dir, f16, out_dir / "convert.log")
    final = f16
    if cfg.quantization != "F16":
        final = quantize(f16, out_dir / f"model-{cfg.quantization}.gguf", cfg.quantization, threads)
        if not cfg.keep_f16:
            f16.unlink()

    lora = None
    if cfg.runtime_lora:
        with tempfile.TemporaryDirectory() as tmp:  # at the strength the merge folded it in
            adapter = scaled_adapter(Path(merged["adapter"]), merged["lora"].get("scale", 1.0), Path(tmp))
            lora_file = convert_lora(adapter, merged_dir, out_dir / "adapter-F16.gguf", out_dir / "convert_lora.log")
        lora = {"file": lora_file.name, "path": str(lora_file.resolve()), "sha256": sha256_file(lora_file),
                "bytes": lora_file.stat().st_size}

    facts = gguf_facts(final)
    base_facts = gguf_facts(Path(merged["base"]["location"])) if merged["base"]["gguf"] else {}
    template = facts.pop("chat_template")
    same_template = bool(template) and sha256_text(template) == merged["chat_template_sha256"]
    if not same_template:
        log.warning("the GGUF's chat template is %s", "missing" if not template else "not the training one")
    manifest = {
        "format": "coursebot-adapter-manifest/1",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gguf": {"file": final.name, "path": str(final.resolve()), "sha256": sha256_file(final),
                 "bytes": final.stat().st_size, "quantization": cfg.quantization, **facts},
        "chat_template": {"sha256": sha256_text(template) if template else None,
                          "training_sha256": merged["chat_template_sha256"], "identical": same_template},
        "tokenizer_matches_base": (facts["tokens_sha256"] == base_facts["tokens_sha256"]) if base_facts else None,
        "course": merged["prompt"]["course"], "prompt": merged["prompt"],
        "base": merged["base"],
        "adapter": {"path": merged["adapter"], "sha256": merged["adapter_sha256"], "lora": merged["lora"],
                    "gguf": lora},  # the runtime-LoRA file (base GGUF + this at load), or None
        "data": {"path": merged["dataset"], "sha256": merged["dataset_sha256"]},
        "merged": {"path": str(merged_dir.resolve())},
        "training": merged["training"],
        "evaluation": None, "gate": None,
    }
    write_json(out_dir / EXPORT_CONFIG, {"config": as_dict(cfg), "merged": str(merged_dir.resolve())})
    write_json(out_dir / MANIFEST, manifest)
    return final
