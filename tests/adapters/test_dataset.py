"""The dataset builder (pure parts): gold citations, refusals, the pipeline's prompt, no evaluation leak."""

import json
import random
from collections import Counter

import pytest

from adapters.chunks import normalize
from adapters.config import DatasetConfig
from adapters.course_topics import COURSE_TOPICS
from adapters.dataset import EvalGuard, build, counterparts, verify_no_leak
from adapters.errors import EvalLeak
from adapters.examples import ENGLISH_LEAD, answer_example, answers_it, decline_example, holds
from adapters.near_misses import FIELD_TERMS, names, says_origin
from adapters.questions import candidates
from adapters.writer import prompt_sources
from knowledge.answer.abstention import model_declined
from knowledge.answer.citations import attribute, strip_markers
from knowledge.answer.prompt import DECLINE_SENTENCE, PromptShape, build_messages, select_passages, system_prompt
from knowledge.retrieval import Hit
from knowledge.text import content_words, fold, overlap
from tests.adapters.conftest import GRADIENT, OVERFIT, SCHEDULE, chunk, course

SHAPE = PromptShape("Curso de prueba", k=4, max_sources=3, max_chars_per_source=600, max_total_chars=1500)


def lexical_search(chunks: list[Hit]):
    """A stand-in for the retriever: chunks by shared content words."""
    def search(question: str) -> list[Hit]:
        q = content_words(question)
        return sorted(chunks, key=lambda h: -overlap(q, content_words(h.text)))[:SHAPE.k + 3]
    return search


def overfit_candidate():
    gold = chunk("c-overfit", OVERFIT, "Sobreajuste (overfitting)")
    return gold, candidates(gold, random.Random(0), 1)[0]


def test_answer_cites_its_gold_chunks_number():
    gold, cand = overfit_candidate()
    distractors = [chunk("d1", GRADIENT, "Descenso del gradiente", page=7),
                   chunk("d2", SCHEDULE, "Información general", "programa.md")]
    example = answer_example(cand.question, cand, gold, distractors + [gold], SHAPE, position=1)
    assert example["kind"] == "answer" and example["gold_source"] == 2
    answer = example["messages"][-1]["content"]
    assert answer.endswith("[2].") and "[1]" not in answer and "[3]" not in answer
    # the pipeline's own citation parser credits the gold source
    shown = select_passages(distractors[:1] + [gold] + distractors[1:], cand.question, 3, 600, 1500)
    assert [c.source for c in attribute(answer, [s.text for s in shown]).citations] == [2]
    assert example["gold"] == [{"file": gold.file, "page": gold.loc_start}]


def test_prompt_is_the_pipelines_own():
    gold, cand = overfit_candidate()
    distractor = chunk("d1", GRADIENT, "Descenso del gradiente", page=7)
    example = answer_example(cand.question, cand, gold, [distractor], SHAPE, position=0)
    sources = select_passages([gold, distractor], cand.question, 3, 600, 1500)
    assert example["messages"][:2] == build_messages(system_prompt("Curso de prueba"), sources, cand.question)
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]


def test_gold_moves_first_when_trimming_would_cut_the_evidence():
    gold, cand = overfit_candidate()
    filler = [chunk(f"f{i}", "Texto de relleno sin relación alguna con la pregunta. " * 12, "Otro") for i in range(2)]
    tight = PromptShape("Curso", k=4, max_sources=3, max_chars_per_source=600, max_total_chars=900)
    example = answer_example(cand.question, cand, gold, filler, tight, position=2)
    assert example["gold_source"] == 1
    assert all(holds(example["messages"][1]["content"], e) for e in cand.evidence)


def test_refusal_cites_nothing_and_hides_every_chunk_holding_the_answer():
    gold, cand = overfit_candidate()
    copy = chunk("copy", OVERFIT + "\nMás texto.", "Sobreajuste")  # an overlapping chunk with the same sentences
    other = chunk("d1", GRADIENT, "Descenso del gradiente", page=7)
    could_answer = answers_it(cand, gold, DatasetConfig().decline_overlap)
    example = decline_example(cand.question, cand.kind, [gold, copy, other], SHAPE, could_answer)
    assert example["kind"] == "decline" and example["gold_source"] is None and example["gold"] == []
    answer = example["messages"][-1]["content"]
    assert answer == DECLINE_SENTENCE and model_declined(answer)
    assert attribute(answer, [other.text]).citations == []
    user = example["messages"][1]["content"]
    assert "[1] Clase 1, pág. 7" in user and "[2]" not in user
    assert decline_example("q", "x", [gold], SHAPE, could_answer) is None  # nothing left to show


def test_decline_overlap_keeps_chunks_that_hold_the_answer_in_part_out_of_a_refusal():
    gold, cand = overfit_candidate()
    words = sorted(content_words(" ".join(cand.sentences)))
    partial = chunk("partial", "Repaso: " + " ".join(words[: len(words) // 3]) + ".", "Repaso", page=9)
    share = overlap(set(words), content_words(partial.text))
    assert 0 < share < 0.6
    other = chunk("d1", GRADIENT, "Descenso del gradiente", page=7)
    lenient = decline_example(cand.question, cand.kind, [gold, partial, other], SHAPE,
                              answers_it(cand, gold, DatasetConfig().decline_overlap))
    strict = decline_example(cand.question, cand.kind, [gold, partial, other], SHAPE,
                             answers_it(cand, gold, max_overlap=share))
    assert "pág. 9" in lenient["messages"][1]["content"]  # default: a chunk with a third of the answer is shown
    user = strict["messages"][1]["content"]
    assert "pág. 9" not in user and "[1] Clase 1, pág. 7" in user and "[2]" not in user


def test_heldout_chunks_never_reach_training():
    chunks = course()
    result = build(chunks, lexical_search(chunks), DatasetConfig(heldout_share=0.5, forbid_eval="", offtopic=6),
                   SHAPE)
    held = {json.dumps(g, sort_keys=True) for i in result["heldout"] for g in i["gold"]}
    trained = {json.dumps(g, sort_keys=True) for e in result["train"] for g in e["gold"]}
    assert held and trained and held.isdisjoint(trained)
    val_chunks = {e["chunk"] for e in result["val"]} - {""}
    assert val_chunks and val_chunks.isdisjoint(e["chunk"] for e in result["train"])
    assert {e["question"] for e in result["train"]}.isdisjoint(i["question"] for i in result["heldout"])
    kinds = {e["kind"] for e in result["train"] + result["val"]}
    assert kinds == {"answer", "decline"}
    assert all(i["answerable"] == bool(i["gold"]) for i in result["heldout"])


def test_no_evaluation_question_enters_training(tmp_path):
    chunks = course()
    cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", offtopic=4)
    first = build(chunks, lexical_search(chunks), cfg, SHAPE)
    asked = next(e["question"] for e in first["train"] if e["type"] != "offtopic")
    eval_file = tmp_path / "dev.jsonl"
    eval_file.write_text(json.dumps({"id": "dev-1", "question": "  " + asked.upper() + " ", "answerable": True})
                         + "\n", encoding="utf-8")
    cfg.forbid_eval = str(eval_file)
    second = build(chunks, lexical_search(chunks), cfg, SHAPE)
    assert asked not in {e["question"] for e in second["train"] + second["val"]}
    assert second["stats"]["dropped_eval_overlap"] >= 1 and second["guard"]["eval_items"] == 1

    guard = EvalGuard([eval_file])
    with pytest.raises(EvalLeak):
        verify_no_leak(first["train"], guard)


def test_hand_written_pairs_cite_the_chunk_their_gold_names(tmp_path):
    chunks = course()
    pairs = tmp_path / "pares.jsonl"
    pairs.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in [
        {"id": "p1", "question": "¿Cuándo atiende la profesora?", "answerable": True,
         "answer": "Los miércoles de 15:00 a 17:00 en la oficina 3.12.", "gold": [{"file": "programa.md"}]},
        {"id": "p2", "question": "¿Hay examen final oral?", "answerable": False},
    ]) + "\n", encoding="utf-8")
    cfg = DatasetConfig(heldout_share=0.01, forbid_eval="", offtopic=0, questions_per_chunk=0, admin_pairs=str(pairs))
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    by_question = {e["question"]: e for e in result["train"]}
    answered = by_question["¿Cuándo atiende la profesora?"]
    n = answered["gold_source"]
    assert answered["messages"][-1]["content"] == f"Los miércoles de 15:00 a 17:00 en la oficina 3.12 [{n}]."
    assert f"[{n}] programa\n" in answered["messages"][1]["content"]
    assert by_question["¿Hay examen final oral?"]["messages"][-1]["content"] == DECLINE_SENTENCE


def test_english_questions_are_answered_from_the_spanish_sources_with_citations():
    chunks = course()
    cfg = DatasetConfig(heldout_share=0.01, forbid_eval="", offtopic=0, near_misses=0, course_misses=0,
                        decline_share=0.0, english_share=1.0)
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    english = [e for e in result["train"] if e["question"].isascii() or e["question"].startswith(("What", "what"))]
    assert english, [e["question"] for e in result["train"]]
    for e in english:
        answer = e["messages"][-1]["content"]
        assert answer.startswith(ENGLISH_LEAD) and f"[{e['gold_source']}]" in answer
        assert not model_declined(answer)
    none = build(chunks, lexical_search(chunks), DatasetConfig(heldout_share=0.01, forbid_eval="", offtopic=0,
                                                                decline_share=0.0, english_share=0.0), SHAPE)
    assert not any(e["messages"][-1]["content"].startswith(ENGLISH_LEAD) for e in none["train"])


BACKPROP = ("Retropropagación\nLa retropropagación es el algoritmo que calcula el gradiente de la pérdida capa por "
            "capa. Fue propuesta por Rumelhart, Hinton y Williams en 1986.")
BOOSTING = ("Boosting\nXGBoost es una implementación del boosting por gradiente muy usada en competencias. Cada "
            "árbol nuevo corrige los errores de los anteriores.")


def near_course() -> list[Hit]:
    return [*course(), chunk("c-backprop", BACKPROP, "Retropropagación", page=9),
            chunk("c-boosting", BOOSTING, "Boosting", page=11)]


def test_near_misses_are_refusals_whose_sources_do_not_answer_them():
    chunks = near_course()
    cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", offtopic=0, near_misses=40)
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    near = [e for e in result["train"] + result["val"] if e["type"] == "near_miss"]
    assert len(near) >= 10
    corpus = fold(" ".join(c.text for c in chunks))
    absent = [stem for _, stem in FIELD_TERMS if stem not in corpus]
    origins = 0
    for e in near:
        assert e["kind"] == "decline" and e["gold_source"] is None and not e["gold"]
        assert e["messages"][-1]["content"] == DECLINE_SENTENCE
        shown = fold(" ".join(prompt_sources(e)))
        asked = fold(e["question"])
        assert shown  # the sources are there: the model, not the pipeline, must decline
        named = [stem for stem in absent if stem in asked]
        if named:  # a field term the course never names
            assert not any(stem in shown for stem in named)
        else:  # who made a term the course defines, or when: no source shown says it
            origins += 1
            assert not says_origin(shown)
    assert origins and len(near) - origins
    # the course names XGBoost (only who made it may be asked) and says who proposed backpropagation (never asked)
    assert "xgboost" not in absent and any("xgboost" in fold(e["question"]) for e in near)
    assert not any("retropropagacion" in fold(e["question"]) for e in near)
    held = [i for i in result["heldout"] if i["type"] == "near_miss"]
    assert held and all(not i["answerable"] and not i["gold"] for i in held)
    assert {i["question"] for i in held}.isdisjoint(e["question"] for e in result["train"])


def test_a_course_in_another_field_names_its_own_terms_for_the_near_misses(tmp_path):
    terms = tmp_path / "historia.txt"
    terms.write_text("# términos vecinos de un curso de historia\nla Revolución Francesa\n"
                     "el Imperio Otomano | otoman\n", encoding="utf-8")
    chunks = near_course()
    cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", offtopic=0, near_misses=40, field_terms=str(terms))
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    near = [fold(e["question"]) for e in result["train"] + result["val"] if e["type"] == "near_miss"]
    assert any("revolucion francesa" in q for q in near) and any("otoman" in q for q in near)
    corpus = fold(" ".join(c.text for c in chunks))
    built_in = [stem for _, stem in FIELD_TERMS if not names(corpus, stem)]  # what the default list would ask
    assert not any(names(q, stem) for q in near for stem in built_in)


SYLLABUS = ("Evaluación del curso\nLa nota se compone de dos parciales (25% cada uno), un proyecto final (30%) y la "
            "participación en clase (20%), y el profesor puede dar bonos a su discreción. La asistencia a las "
            "sesiones prácticas es obligatoria. El profesor "
            "publica las notas de cada parcial en la plataforma del curso una semana después de la entrega.")


def test_course_misses_decline_what_the_syllabus_never_says_and_never_ask_what_it_does():
    chunks = [*course(), chunk("c-syllabus", SYLLABUS, "Evaluación del curso", page=2)]
    cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", offtopic=0, near_misses=0, near_miss_counterparts=0,
                        course_misses=40)
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    misses = [e for e in result["train"] + result["val"] if e["type"] == "course_miss"]
    held = [i for i in result["heldout"] if i["type"] == "course_miss"]
    # the course names office hours (its general information), attendance and bonuses (the syllabus, "bonos" for
    # what a student calls extra points): never asked about
    silent = [q for stems, questions in COURSE_TOPICS for q in questions
              if not {"horario de atencion", "asistencia", "bono"} & set(stems)]
    asked = Counter(frozenset(content_words(e["question"])) for e in misses)
    assert asked == Counter(frozenset(content_words(q)) for q in silent)  # every other question, once each
    assert held and {i["question"] for i in held} <= {e["question"] for e in result["val"]}
    for e in misses:
        assert e["kind"] == "decline" and e["messages"][-1]["content"] == DECLINE_SENTENCE and not e["gold"]
        assert prompt_sources(e)  # shown with sources: the model, not the pipeline, must decline
    # the syllabus is what retrieval shows for questions about grades and exams: it looks like it should answer
    assert any("parciales (25% cada uno)" in " ".join(prompt_sources(e)) for e in misses)
    assert all(not i["answerable"] and not i["gold"] for i in held)


def test_near_misses_and_their_counterparts_leave_the_rest_of_the_dataset_as_it_was():
    chunks = near_course()

    def dataset(near: int, counter: int, course: int = 0) -> dict:
        cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", near_misses=near, near_miss_counterparts=counter,
                            course_misses=course)
        return build(chunks, lexical_search(chunks), cfg, SHAPE)

    without, with_near, with_both, with_all = dataset(0, 0), dataset(20, 0), dataset(20, 20), dataset(20, 20, 12)
    for split in ("train", "val"):
        assert [e["id"] for e in without[split]] == [e["id"] for e in with_near[split] if e["type"] != "near_miss"]
        assert [e["id"] for e in with_near[split]] == [e["id"] for e in with_both[split] if e["type"] != "counterpart"]
        assert [e["id"] for e in with_both[split]] == [e["id"] for e in with_all[split] if e["type"] != "course_miss"]
    held = [i["id"] for i in with_near["heldout"]]
    assert held == [i["id"] for i in with_both["heldout"]][:len(held)]
    held = [i["question"] for i in with_both["heldout"]]
    assert held == [i["question"] for i in with_all["heldout"] if i["type"] != "course_miss"]
    assert any(e["type"] == "course_miss" for e in with_all["train"] + with_all["val"])
    assert any(e["type"] == "near_miss" for e in with_near["train"])
    rows = with_both["train"]
    pairs = [i for i, e in enumerate(rows) if e["type"] == "counterpart"]
    near = sum(e["type"] == "near_miss" for e in rows)
    assert pairs and all(rows[i - 1]["type"] == "near_miss" for i in pairs[:near])  # each beside a near miss
    assert build([], lexical_search([]), DatasetConfig(forbid_eval="", near_misses=20), SHAPE)["train"] == []


def test_counterparts_ask_the_near_misses_forms_about_defined_terms_and_cite_the_definition():
    chunks = near_course()
    cfg = DatasetConfig(heldout_share=0.3, forbid_eval="", offtopic=0, near_misses=0, near_miss_counterparts=40)
    result = build(chunks, lexical_search(chunks), cfg, SHAPE)
    pairs = [e for e in result["train"] + result["val"] if e["type"] == "counterpart"]
    assert pairs
    by_id = {c.node_id: c for c in chunks}
    for e in pairs:
        assert e["kind"] == "answer" and e["gold_source"] is not None
        answer = e["messages"][-1]["content"]
        assert f"[{e['gold_source']}]" in answer and answer != DECLINE_SENTENCE
        said = normalize(strip_markers(answer)).rstrip(".")
        assert said in normalize(by_id[e["chunk"]].text)  # the definition, copied
        assert said in normalize(prompt_sources(e)[e["gold_source"] - 1])  # and shown under the number it cites
    assert any("xgboost" in fold(e["question"]) for e in pairs)  # a field term the course names: answered
    questions = [fold(e["question"]) for e in result["train"] + result["val"]]
    assert len(questions) == len(set(questions))  # a counterpart never repeats a question the dataset asks
    def asked(taken: set[str]) -> list[str]:
        return [e["question"] for e, *_ in counterparts(chunks, lexical_search(chunks), cfg, SHAPE, EvalGuard([]),
                                                       Counter(), taken)]
    first = asked(set())[0]
    assert first not in asked({fold(first)})  # nothing the dataset already asks
    held = [i for i in result["heldout"] if i["type"] == "counterpart"]
    assert all(i["answerable"] and i["gold"] and i["must_include"] for i in held)
    assert {i["question"] for i in held}.isdisjoint(e["question"] for e in result["train"])
