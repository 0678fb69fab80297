# coursebot image: build llama-cpp-python once in a builder stage, run as a non-root user.
# tests/test_dockerfile.py runs this file's build commands (no Docker engine is needed for that).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY knowledge knowledge
COPY bot bot
COPY adapters adapters
# portable x86-64-v3 build, the same flags as scripts/setup.sh (-march=native enables AMX, which crashes on some VMs)
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
RUN pip wheel --no-cache-dir --wheel-dir /wheels . llama-cpp-python==0.3.36

FROM python:3.11-slim
# OCR of scanned pages, slide images and students' photos (voice notes need only the Whisper folder in /models)
RUN apt-get update && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 coursebot && mkdir -p /data /models && chown coursebot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER coursebot
WORKDIR /home/coursebot
ENV COURSEBOT_DATA_DIR=/data COURSEBOT_MODELS_DIR=/models PYTHONUNBUFFERED=1
VOLUME ["/data", "/models"]
# healthy = the settings load, Weaviate answers and the collection is readable
HEALTHCHECK --interval=60s --timeout=30s --start-period=60s --retries=3 CMD ["coursebot", "status", "--json"]
CMD ["coursebot", "serve"]
