"""Answering: prompt, generation, citations and abstention behind `Answerer`."""
