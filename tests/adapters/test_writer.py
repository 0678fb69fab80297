"""The answer writer's checks (pure) and its stage: what is kept, what is dropped, resuming from answers.jsonl."""

import json
import random

import pytest

from adapters.artifacts import ANSWERS, DATASET_CONFIG, HELDOUT, TRAIN, VAL, read_jsonl, write_json, write_jsonl
from adapters.config import WriteConfig
from adapters.errors import ArtifactMissing
from adapters.examples import answer_example, decline_example
from adapters.questions import candidates
from adapters.writer import judge, prompt_sources, training_data, write_answers
from knowledge.answer.prompt import DECLINE_SENTENCE
from tests.adapters.conftest import GRADIENT, OVERFIT, SCHEDULE, chunk
from tests.adapters.test_dataset import SHAPE


def overfit_example(position: int = 1) -> dict:
    gold = chunk("c-overfit", OVERFIT, "Sobreajuste (overfitting)")
    cand = candidates(gold, random.Random(0), 1)[0]
    others = [chunk("d1", GRADIENT, "Descenso del gradiente", page=7),
              chunk("d2", SCHEDULE, "Información general", "programa.md")]
    return answer_example(cand.question, cand, gold, others + [gold], SHAPE, position)


def test_prompt_sources_are_read_back_in_order():
    example = overfit_example(1)
    texts = prompt_sources(example)
    assert len(texts) == 3 and "sobreajustado memoriza" in texts[1] and "gradiente" in texts[0]


def test_a_cited_answer_holding_the_facts_is_kept_as_written():
    example = overfit_example(1)
    raw = ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento [2]. Por eso su error de "
           "entrenamiento es muy bajo, pero su error en datos nuevos es alto [2].")
    assert judge(raw, example, 0.5) == (raw, "kept")


def test_sentences_without_markers_get_the_gold_number_when_the_gold_supports_them():
    example = overfit_example(1)
    raw = ("El sobreajuste ocurre cuando un modelo memoriza el ruido del entrenamiento: su error de entrenamiento "
           "es muy bajo y su error en datos nuevos es alto.\n\n[2], [3]")
    answer, verdict = judge(raw, example, 0.5)
    assert verdict == "gold_added" and answer.endswith("alto [2].") and "[3]" not in answer


@pytest.mark.parametrize("raw, verdict", [
    (DECLINE_SENTENCE, "declined"),
    ("An overfit model memorizes the noise of the training set: low training error, high error on new data [2].",
     "language"),
    ("Un modelo sobreajustado memoriza el ruido; su error de entrenamiento es bajo y en datos nuevos alto [5].",
     "cites_missing_source"),
    ("El sobreajuste es un problema común en el aprendizaje automático [2].", "misses_facts"),
    ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento y su error en datos nuevos es alto "
     "[2]. Se evita siempre con redes convolucionales profundas y dropout.", "unsupported_sentence"),
    ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento en 2019, con error de entrenamiento "
     "muy bajo y error en datos nuevos alto [1].", "unsupported_sentence"),  # [2] holds it, but not 2019
])
def test_wrong_answers_are_rejected_with_the_reason(raw, verdict):
    assert judge(raw, overfit_example(1), 0.5) == (None, verdict)


def test_a_guessed_number_is_renumbered_to_the_source_that_holds_the_sentence():
    raw = ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento, con error de entrenamiento muy "
           "bajo y error en datos nuevos alto [1].")  # [1] is the gradient chunk, [2] the gold
    answer, verdict = judge(raw, overfit_example(1), 0.5)
    assert verdict == "renumbered" and answer == raw.replace("[1]", "[2]")


def test_an_english_question_accepts_an_english_answer():
    example = overfit_example(1)
    example = {**example, "question": "What is overfitting according to the course?"}
    raw = ("According to the course, an overfit model memorizes the noise of the training set (\"memoriza el "
           "ruido del conjunto de entrenamiento\"): its training error is very low but on new data it is high [2].")
    assert judge(raw, example, 0.2)[1] == "kept"


def dataset_folder(tmp_path):
    """A dataset folder as the dataset stage writes it: two answers with a refusal between them."""
    d = tmp_path / "dataset"
    d.mkdir()
    first, second = overfit_example(0), overfit_example(2)
    second["id"] = "second"
    refusal = decline_example("¿Quién ganó el mundial de 2010?", "offtopic", [chunk("d1", GRADIENT, "x")], SHAPE)
    write_jsonl(d / TRAIN, [first, refusal, second])
    write_jsonl(d / VAL, [])
    write_jsonl(d / HELDOUT, [])
    write_json(d / DATASET_CONFIG, {"counts": {"train": 3}, "prompt": {}, "sha256": {"train.jsonl": "a"}})
    return d, first, refusal, second


def test_the_stage_keeps_refusals_drops_rejected_answers_and_resumes_from_its_log(tmp_path):
    d, first, refusal, second = dataset_folder(tmp_path)
    good = ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento [1]. Su error de "
            "entrenamiento es muy bajo pero en datos nuevos es alto [1].")
    asked = []

    def write(messages):
        asked.append(messages)
        return (good, False) if len(asked) == 1 else ("Es un concepto de estadística.", False)

    out = tmp_path / "written"
    summary = write_answers(d, out, WriteConfig(write_model="w.gguf"), write)
    rows = read_jsonl(out / TRAIN)
    assert [r["id"] for r in rows] == [first["id"], refusal["id"]]  # the second answer missed the facts
    assert rows[0]["messages"][-1]["content"] == good and rows[1] == refusal
    assert all(m["role"] != "assistant" for m in asked[0]) and asked[0] == first["messages"][:-1]
    assert summary["written"]["verdicts"]["train"] == {"kept": 1, "misses_facts": 1}
    assert (out / HELDOUT).is_file() and training_data(d, out) == out

    # run again after a kill mid-line: nothing is asked twice; keeping templates brings the rejected answer back
    with (out / ANSWERS).open("a", encoding="utf-8") as log:
        log.write('{"id": "half a li')
    again = write_answers(d, out, WriteConfig(write_model="w.gguf", write_keep_templates=True), write)
    assert len(asked) == 2 and (out / ANSWERS).read_text().count('"writer": "w.gguf"') == 2
    assert read_jsonl(out / TRAIN)[2] == second and again["written"]["train_written"] == 1
    write_answers(d, out, WriteConfig(write_model="other.gguf"), write)  # another writer: asked again
    lines = (out / ANSWERS).read_text().splitlines()
    assert len(asked) == 4 and len(lines) == 5 and lines[2] == '{"id": "half a li'
    assert [json.loads(line)["writer"] for line in lines[3:]] == ["other.gguf", "other.gguf"]

    # the dataset built again with a different prompt under the same ids: those answers are written anew
    first["messages"][1]["content"] = first["messages"][1]["content"].replace("Pregunta: ", "Pregunta: a ver, ")
    write_jsonl(d / TRAIN, [first, refusal, second])
    write_answers(d, out, WriteConfig(write_model="w.gguf"), write)
    assert len(asked) == 5 and asked[-1] == first["messages"][:-1]


def test_limit_stops_after_that_many_answers_and_a_stale_folder_is_refused(tmp_path):
    d, first, refusal, _ = dataset_folder(tmp_path)
    out = tmp_path / "written"
    write_answers(d, out, WriteConfig(write_model="w.gguf", write_limit=1, write_keep_templates=True),
                  lambda messages: ("", True))
    assert read_jsonl(out / TRAIN) == [first, refusal]  # cut off → template kept; the refusal before the next answer
    assert json.loads((out / ANSWERS).read_text())["cut"] is True
    config = json.loads((d / DATASET_CONFIG).read_text())
    write_json(d / DATASET_CONFIG, {**config, "sha256": {"train.jsonl": "b"}})  # the dataset was built again
    with pytest.raises(ArtifactMissing, match="run the write stage again"):
        training_data(d, out)
    assert training_data(d, tmp_path / "none") == d


def test_trimming_drops_what_no_source_supports_and_keeps_the_rest():
    example = overfit_example(1)
    raw = ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento y su error en datos nuevos es "
           "alto [2]. Se evita siempre con redes convolucionales profundas y dropout.")
    answer, verdict = judge(raw, example, 0.5, trim=True)
    assert verdict == "trimmed" and answer == raw.split(" Se evita")[0]
    miscited = ("Un modelo sobreajustado memoriza el ruido del conjunto de entrenamiento en 2019, con error de "
                "entrenamiento muy bajo y error en datos nuevos alto [1].")  # no source holds 2019
    assert judge(miscited, example, 0.5, trim=True) == (None, "misses_facts")  # nothing supported is left
