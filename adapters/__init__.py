"""The LoRA pipeline (dataset → train → merge → GGUF export → gate); imports knowledge, never bot."""
