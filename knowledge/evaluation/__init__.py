"""Evaluation: QA sets, the metrics, and LlamaIndex's default pipeline as a baseline."""
