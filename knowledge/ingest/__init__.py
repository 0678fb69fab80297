"""Ingestion: files are type-checked, read into located units, chunked and indexed."""
