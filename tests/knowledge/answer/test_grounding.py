"""The answer check: echoes, invented figures and names, and a question's unverified premise are caught; a
grounded answer passes, through the attribution that feeds it and through the decision it feeds."""

from knowledge.answer.abstention import Thresholds, decide
from knowledge.answer.citations import attribute
from knowledge.answer.grounding import Claim, check, figures, names

PCA = ("Clase 9, pág. 14\nPCA proyecta los datos sobre las direcciones de mayor varianza. En el ejercicio se "
       "seleccionan 2 componentes principales, que explican el 95,3% de la varianza.")
SYLLABUS = ("Programa, pág. 2\nEvaluación: primer parcial 25%, segundo parcial 25%, quices 20%, proyecto final 20%, "
            "participación 10%. Las clases son en el bloque L, los martes.")


def grounding(question: str, answer: str, sources: list[str]):
    return check(question, attribute(answer, sources).claims, sources)


def test_a_grounded_answer_passes_with_full_support():
    found = grounding("¿cuántos componentes selecciona PCA en el ejercicio?",
                      "Se seleccionan 2 componentes principales, que explican el 95.3% de la varianza [1].", [PCA])
    assert found.reason == "" and found.support == 1.0


def test_an_answer_that_restates_the_question_is_an_echo():
    question = "¿cuántos componentes selecciona PCA en el ejercicio?"
    echo = "El número de componentes seleccionados por PCA en el ejercicio es [1]."
    assert grounding(question, echo, [PCA]).reason == "echo"
    # the word overlap it replaces found the echo well supported: the question's words are in the source
    assert attribute(echo, [PCA]).support >= Thresholds().min_support


def test_an_invented_figure_is_caught_even_wrapped_in_the_sources_words():
    found = grounding("¿cuántos componentes selecciona PCA?",
                      "PCA selecciona 7 componentes principales de mayor varianza [1].", [PCA])
    assert found.reason == "unsupported_figure" and found.detail == "7"


def test_an_invented_name_is_caught():
    found = grounding("¿qué proyecta PCA?", "PCA proyecta los datos con el método de Karhunen sobre las direcciones "
                      "de mayor varianza [1].", [PCA])
    assert found.reason == "unsupported_figure" and "karhun" in found.detail


def test_a_figure_must_be_in_the_source_the_sentence_cites():
    other = "Clase 2, pág. 3\nUn árbol de decisión se poda con una profundidad máxima de 7."
    found = grounding("¿cuántos componentes selecciona PCA?", "PCA selecciona 7 componentes principales [1].",
                      [PCA, other])
    assert found.reason == "unsupported_figure"  # 7 is in [2], which holds nothing else of the sentence


def test_figures_from_the_question_and_list_numbers_are_not_claims():
    found = grounding("explica el paso 2 de PCA",
                      "1. Se centran los datos [1].\n2. PCA proyecta los datos sobre las direcciones de mayor "
                      "varianza [1].", [PCA])
    assert found.reason == ""


def test_a_false_premise_is_not_confirmed():
    question = "¿el primer parcial vale 30%? lo vi en unas diapos"
    for answer in ("Sí [1].", "Sí, el primer parcial vale 30% [1].", "El primer parcial vale 30% de la nota [1]."):
        assert grounding(question, answer, [SYLLABUS]).reason == "unverified_premise", answer
    corrected = grounding(question, "No: el primer parcial vale 25% de la nota [1].", [SYLLABUS])
    assert corrected.reason == ""


def test_a_yes_no_question_about_what_the_sources_never_name_is_not_agreed_with():
    question = "si falto a un parcial hay supletorio?"
    assert grounding(question, "Sí, hay supletorio para el parcial [1].", [SYLLABUS]).reason == "unverified_premise"
    assert grounding("¿hay un segundo parcial?", "Sí, el segundo parcial vale 25% [1].", [SYLLABUS]).reason == ""


def test_a_number_naming_a_thing_is_no_premise_and_no_claim():
    found = grounding("para el parcial 2 cuanto vale la participacion?",
                      "En el parcial 2 la participación vale 10% de la nota [1].", [SYLLABUS])
    assert found.reason == ""


def test_a_premise_the_sources_hold_may_be_confirmed():
    found = grounding("¿el primer parcial vale 25%?", "Sí, el primer parcial vale 25% de la evaluación [1].",
                      [SYLLABUS])
    assert found.reason == ""


def test_figures_and_names_are_normalised():
    assert figures("95,30 % y 0.960, una capa, 007 en el parcial 2 (semana 4)") == {"95.3", "0.96", "7"}
    assert figures("dos capas y 0.960 en el parcial 2", source=True) == {"2", "0.96"}
    assert names("El modelo de Rosenblatt y GPT-3 en Colab") == {"rosenb", "gpt", "colab"}
    assert names("Rosenblatt lo creó") == set()  # a sentence's first word is capitalised anyway
    assert names("el AUC (Area Under the Curve) de Colab") == {"auc", "colab"}  # a gloss in parentheses is no claim


def test_claims_keep_the_sources_each_sentence_rests_on():
    claims = attribute("PCA proyecta los datos [2]. Se seleccionan 2 componentes [1].", ["x", PCA]).claims
    assert claims == [Claim("PCA proyecta los datos.", (2,)), Claim("Se seleccionan 2 componentes.", (2,))]


def test_decide_declines_what_the_check_found():
    t = Thresholds(min_support=0.3, min_similarity=0.8)
    assert decide("x", 0.9, 0.9, 3, t, grounding="echo").reason == "echo"
    assert decide("x", 0.9, 0.9, 3, t, grounding="unverified_premise").reason == "unverified_premise"
    assert decide("x", 0.9, 0.9, 3, t, grounding="unsupported_figure").reason == "unsupported_figure"
    assert decide("x", 0.1, 0.9, 3, t, grounding="unsupported_figure").reason == "unsupported"
    assert decide("No encuentro esa información.", 0.9, 0.9, 3, t, grounding="echo").reason == "model_declined"
    assert not decide("x", 0.9, 0.9, 3, t).abstain
