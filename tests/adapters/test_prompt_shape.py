"""One prompt shape for training and serving: the adapter's training examples, the gate's answers and the bot's
answers are built from the same `PromptShape`, so for the same question and retrieved chunks the model sees the
very same messages. The adapter pipeline's whole premise; pure (no model, no server)."""

from __future__ import annotations

from dataclasses import asdict

from adapters.config import GateConfig
from adapters.examples import decline_example, record
from adapters.gate import answer_settings
from knowledge.answer.generation import Completion
from knowledge.answer.prompt import PromptShape
from knowledge.core import Knowledge
from knowledge.retrieval import Hit
from knowledge.settings import Settings

QUESTION = "¿Cuánto vale el proyecto final en la nota?"
HITS = [Hit(f"n{i}", f"Semana 0{i}/Clase {i}.pdf", f"Clase {i}", "Evaluación", "page", i, i, i, 1.0 - i / 10,
            f"El proyecto final vale el {30 + i} % de la nota. " * (i + 3) + "Se entrega en grupos de tres.")
        for i in range(1, 6)]


class Retriever:
    def search(self, query, k=None, **filters):
        return HITS[:k]


class Recorder:
    """A generator that records the messages it is asked to answer."""

    name = "recorder"

    def __init__(self):
        self.seen: list[list[dict]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, messages, max_tokens, on_token, temperature=0.1):
        self.seen.append(messages)
        on_token("El proyecto vale 31 % [1].")
        return Completion("El proyecto vale 31 % [1].", 10, 0, 8, 1.0, 2.0)


def served_messages(settings: Settings) -> list[dict]:
    """What the bot's answerer — built by `Knowledge.answerer` from the settings — sends the model."""
    kb = Knowledge(settings)
    kb.client = object()  # a stand-in connection: nothing is queried (the retriever is replaced below)
    kb.__dict__["generator"] = recorder = Recorder()
    answerer = kb.answerer
    answerer.retriever = Retriever()
    try:
        answerer.answer(QUESTION)
    finally:
        answerer.queue.stop()
    [messages] = recorder.seen
    return messages


def test_training_examples_and_served_answers_see_the_same_prompt(tmp_path):
    settings = Settings(data_dir=tmp_path, course_name="Inteligencia Artificial Aplicada", answer_k=4,
                        answer_max_sources=3, answer_chars_per_source=500, answer_total_chars=1200, _env_file=None)
    shape = PromptShape.from_settings(settings)
    served = served_messages(settings)
    trained = record(QUESTION, "answer", "fact", shape, shape.passages(HITS[: shape.k], QUESTION),
                     "El proyecto vale 31 % [1].", 1, HITS[0])["messages"]
    assert trained[:-1] == served and trained[-1]["role"] == "assistant"
    declined = decline_example(QUESTION, "near_miss", HITS[: shape.k], shape)["messages"]
    assert declined[:-1] == served


def test_the_gate_answers_with_the_shape_the_dataset_recorded(tmp_path):
    settings = Settings(data_dir=tmp_path, course_name="Curso A", answer_total_chars=900, _env_file=None)
    recorded = PromptShape.from_settings(settings)
    assert answer_settings(settings, asdict(recorded), GateConfig()).shape == recorded
    other = settings.model_copy(update={"course_name": "Curso B", "answer_total_chars": 1500})
    # the serving settings changed since the dataset was built: the gate still measures the trained shape
    assert answer_settings(other, asdict(recorded), GateConfig()).shape == recorded != PromptShape.from_settings(other)


def test_a_shape_that_differs_gives_a_different_prompt(tmp_path):
    """The comparison above can fail: another course name or budget changes the messages."""
    settings = Settings(data_dir=tmp_path, course_name="Curso A", _env_file=None)
    served = served_messages(settings)
    for changed in (PromptShape("Curso B"), PromptShape("Curso A", max_total_chars=300)):
        trained = record(QUESTION, "answer", "fact", changed, changed.passages(HITS[: changed.k], QUESTION), "x [1].",
                         1, HITS[0])["messages"]
        assert trained[:-1] != served
