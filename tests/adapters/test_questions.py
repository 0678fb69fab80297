"""Question and answer extraction from a chunk (pure functions)."""

import random

import pytest

from adapters.chunks import (
    article,
    clean_heading,
    doc_name,
    good_term,
    is_sentence,
    key_facts,
    lower_first,
    read_blocks,
)
from adapters.errors import ConfigError
from adapters.near_misses import (
    absent_term_question,
    defined_terms,
    named_term_question,
    names,
    origin_question,
    origin_term,
    present_term_questions,
    read_field_terms,
    says_origin,
)
from adapters.questions import candidates, informal
from adapters.slide_lists import item_lists, slide_lists
from tests.adapters.conftest import GRADIENT, KNN, OVERFIT, SCHEDULE, chunk


def test_blocks_join_wrapped_pdf_lines_and_find_the_heading():
    blocks = read_blocks(chunk("a", OVERFIT, "Sobreajuste (overfitting)"))
    assert [b.kind for b in blocks] == ["heading", "prose"]
    assert "su error de entrenamiento es muy bajo" in blocks[1].text  # the line break is gone


def test_code_lines_are_not_prose_and_prose_with_code_is_not_code():
    kinds = {b.text: b.kind for b in read_blocks(chunk("a", KNN, "Entrenamiento del KNN", "t.ipynb", 2))}
    assert kinds["knn = KNeighborsClassifier(n_neighbors=5)"] == "code"
    assert kinds["Usamos k = 5 vecinos y la distancia euclidiana."] == "prose"


def test_every_answer_is_copied_from_its_chunk():
    rng = random.Random(0)
    for text, section in ((OVERFIT, "Sobreajuste (overfitting)"), (SCHEDULE, "Información general"),
                          (KNN, "Entrenamiento del KNN")):
        hit = chunk("a", text, section)
        found = candidates(hit, rng, limit=5)
        assert found
        flat = " ".join(text.replace("**", "").split())
        for c in found:
            assert all(" ".join(e.split()) in flat for e in c.evidence), c


def test_labelled_bullets_and_code_arguments_become_questions():
    rng = random.Random(0)
    schedule = candidates(chunk("a", SCHEDULE, "Información general", "programa.md"), rng, 5)
    assert any(c.kind == "keyvalue" and "horario de atención" in c.question and "15:00" in c.facts
               for c in schedule)
    knn = candidates(chunk("a", KNN, "Entrenamiento del KNN", "t.ipynb", 2), rng, 5)
    assert any(c.kind == "code" and "n_neighbors" in c.question and c.facts == ("5",) for c in knn)


def test_small_helpers():
    assert lower_first("Validación cruzada") == "validación cruzada" and lower_first("KNN rápido") == "KNN rápido"
    assert article("horario de atención") == "el" and article("fecha límite") == "la"
    assert article("talleres semanales") == "los"
    assert key_facts("Con k = 5 pliegues y validación estratificada.", "¿cuántos pliegues?")[0] == "5"
    q = informal("¿Qué es el sobreajuste?", random.Random(1))
    assert "¿" not in q and q[0].islower()


def test_vague_terms_and_non_sentences_are_not_asked_about():
    assert good_term("el descenso del gradiente") and good_term("KNN")
    for term in ("el resultado de estas comparaciones", "usa información de Colombia si", "determines cuál",
                 "la primera diferencia", "el recomendado", "fundamentos de", "en el mercado laboral",
                 "instalar Ollama en Colab (solo", "los tres modelos", "la propiedad más notable", "el mejor ejemplo",
                 "las diferencias entre ambos métodos"):
        assert not good_term(term), term
    assert is_sentence("La tasa de aprendizaje es el tamaño del paso que se da en cada actualización.")
    for text in ("<Figure size 1500x500 with 2 Axes>", "plt.plot(pred[:time_steps], color=color, alpha=0.7,.",
                 "1024 tokens) para predecir el siguiente.", "[![Open In Colab](https://colab.research.google.com)]",
                 "with gr.Row(): with gr.Column(scale=1):."):
        assert not is_sentence(text), text


def test_code_questions_only_for_literal_arguments_set_once():
    text = ("## Modelo\n\nmodel = XGBClassifier(max_depth=4, random_state=SEED, learning_rate=0.1)\n"
            "slider = gr.Slider(minimum=1, maximum=50)\nother = gr.Slider(maximum=10)\n"
            "model.fit(X, y, early_stopping_rounds=20)")
    found = candidates(chunk("a", text, "Modelo", "Semana 03/Script Clase 8 Árboles.ipynb", 3), random.Random(0), 9)
    asked = {c.evidence[0] for c in found if c.kind == "code"}
    assert {"max_depth=4", "learning_rate=0.1", "early_stopping_rounds=20"} <= asked
    assert not any("random_state" in e or "maximum" in e for e in asked)  # a variable; set twice


def test_a_chunk_yields_one_question_of_each_kind_before_a_second_of_any():
    text = ("## Entrenamiento\n\nEl árbol de decisión es un modelo que divide los datos con preguntas sucesivas.\n\n"
            "clf = DecisionTreeClassifier(max_depth=3, min_samples_leaf=5, criterion='gini', splitter='best')")
    found = candidates(chunk("a", text, "Entrenamiento", "t.ipynb", 1), random.Random(0), 2)
    assert sorted(c.kind for c in found) == ["code", "definition"]  # not the first two arguments
    assert len(candidates(chunk("a", text, "Entrenamiento", "t.ipynb", 1), random.Random(0), 9)) == 5


def test_documents_are_also_named_as_students_name_them():
    hit = chunk("a", KNN, "Entrenamiento del KNN", "Semana 03/Script Clase 8 Árboles y Ensambles.ipynb", 2)
    names = {doc_name(hit, random.Random(seed)) for seed in range(40)}
    assert names == {"«Script Clase 8 Árboles y Ensambles»", "el notebook de árboles y Ensambles", "la clase 8"}
    assert doc_name(hit) == "«Script Clase 8 Árboles y Ensambles»"  # answers keep the title the sources show
    assert clean_heading("🎯 **Entropía**:") == "Entropía"


# A slide as the PDF reader gives it: a group's name, its labels, items wrapped over lines.
TREES_VS_KNN = ("Comparación: Árboles vs KNN\nÁrboles de decisión\nVentajas:\nSe interpretan con facilidad\n"
                "No necesitan escalar\nlas variables\nDesventajas:\nSe sobreajustan sin poda\nSon inestables\n"
                "KNN\nVentajas:\n"
                "Sin fase de entrenamiento\nSe adapta a fronteras irregulares\nDesventajas:\n"
                "Lento al predecir con muchos datos\nSensible a la escala")


def test_slide_lists_keep_each_group_its_items_and_compare_the_groups():
    hit = chunk("a", TREES_VS_KNN, "Comparación: Árboles vs KNN", "Semana 05/Clase 9.pdf", 12)
    lists = item_lists(hit)
    assert [(x.group, x.label) for x in lists] == [("Árboles de decisión", "Ventajas"),
                                                   ("Árboles de decisión", "Desventajas"),
                                                   ("KNN", "Ventajas"), ("KNN", "Desventajas")]
    assert lists[0].items == ("Se interpretan con facilidad", "No necesitan escalar las variables")  # unwrapped
    assert lists[1].items == ("Se sobreajustan sin poda", "Son inestables")  # not 'KNN', the next group
    found = slide_lists(hit, random.Random(0))
    compare = next(c for c in found if c.kind == "comparison")
    assert "Árboles de decisión" in compare.question and "KNN" in compare.question and compare.question_en
    assert compare.sentences[0] == ("Las ventajas de Árboles de decisión son: se interpretan con facilidad y no "
                                    "necesitan escalar las variables.")
    assert len(compare.sentences) == 4 and compare.sentences[3].startswith("Las desventajas de KNN son: lento")
    flat = " ".join(TREES_VS_KNN.split())
    assert all(e in flat for c in found for e in c.evidence)  # every item is the slide's own words


def test_an_item_before_the_groups_next_label_stays_an_item():
    text = ("Árboles de decisión\nVentajas:\nSe interpretan con facilidad\nNo necesitan escalar\n"
            "Desventajas:\nSe sobreajustan sin poda\nSon inestables ante cambios pequeños")
    lists = item_lists(chunk("a", text, "Árboles"))
    assert [x.items[-1] for x in lists] == ["No necesitan escalar", "Son inestables ante cambios pequeños"]
    assert {x.group for x in lists} == {"Árboles de decisión"}


def test_notebook_output_code_and_inline_labels_are_not_list_items():
    text = ("## Resultados\n\nParámetros:\n    y_true: array-like\n    probs: dict\n\n"
            "Métricas:\nObjetivo: Predecir el default\nExactitud: 0.8123\n\n"
            "# Salida\nClases:\nclase 0: 0.4768\nclase 1: 0.5550")
    assert item_lists(chunk("a", text, "Resultados", "t.ipynb", 3)) == []


def test_questions_also_come_in_english_for_kinds_that_read_well():
    found = candidates(chunk("g", GRADIENT, "Descenso del gradiente"), random.Random(0), 5)
    english = [c.question_en for c in found if c.question_en]
    assert english and all(q.isascii() or "«" in q for q in english)


def test_near_miss_questions_agree_with_their_term_and_read_as_students_ask():
    rng = random.Random(3)
    hit = chunk("c-gradient", GRADIENT, "Descenso del gradiente")
    plural = {absent_term_question("las redes siamesas", hit, rng).question for _ in range(60)}
    assert "¿Qué son las redes siamesas?" in plural and "¿Para qué sirven las redes siamesas?" in plural
    assert not any(" es las " in q or " sirve las " in q or " tiene las " in q for q in plural)
    single = {absent_term_question("el filtro de Kalman", hit, rng).question for _ in range(60)}
    assert "¿Cuáles son las ventajas del filtro de Kalman?" in single and not any(" de el " in q for q in single)
    assert any("Clase 1" in q for q in single)  # asked "in" one of the course's documents
    assert all(c.kind == "near_miss" and not c.sentences for c in
               (absent_term_question("XGBoost", hit, rng), origin_question("la validación cruzada", rng)))
    origins = {origin_question("los árboles de decisión", rng).question for _ in range(60)}
    assert "¿En qué año aparecieron los árboles de decisión?" in origins
    assert not any("apareció los" in q for q in origins)


def test_near_misses_ask_who_or_when_only_of_named_things_and_sources_that_do_not_say():
    assert defined_terms(chunk("c-gradient", GRADIENT, "Descenso del gradiente")) == ["la tasa de aprendizaje"]
    assert origin_term("la validación cruzada") and origin_term("el algoritmo KNN")
    assert origin_term("la retropropagación") and not origin_term("el verdadero desafío")
    assert not origin_term("un proceso") and not origin_term("los parámetros")
    assert says_origin("Fue propuesta por Rumelhart en 1986.") and says_origin("Sus autores la publicaron así")
    assert not says_origin(GRADIENT) and not says_origin(OVERFIT)
    assert names("usamos xgboost y t-sne", "xgboost") and names("usamos xgboost y t-sne", "t-sne")
    assert not names("la regresion lineal", "lime") and not names("sne", "t-sne")


def test_counterparts_ask_of_defined_named_things_in_the_near_misses_forms():
    rng = random.Random(5)
    hit = chunk("c-gradient", GRADIENT, "Descenso del gradiente")
    asked = {c.question for _ in range(40) for c in present_term_questions(hit, rng)}
    assert "¿Qué es la tasa de aprendizaje?" in asked and "explícame la tasa de aprendizaje" in asked
    assert any(q.startswith("¿Qué dice ") and "Clase 1" in q for q in asked)
    found = present_term_questions(hit, rng)
    assert [c.kind for c in found] == ["counterpart"]
    assert found[0].sentences == ("La tasa de aprendizaje es el tamaño del paso que se da en cada actualización.",)
    assert found[0].facts  # held-out counterparts are scored on the definition's facts
    plural_hit = chunk("c-trees", "Árboles\nLos árboles de decisión son modelos que dividen los datos por reglas "
                       "sucesivas sobre sus variables.", "Árboles")
    forms = {c.question for _ in range(40) for c in present_term_questions(plural_hit, rng)}
    assert "cómo funcionan los árboles de decisión?" in forms and not any(" es los " in q for q in forms)
    # a value or a plain noun is not what a near miss asks about
    assert present_term_questions(chunk("c-k", "Valores\nEl valor de k es 5 en todos los ejemplos del curso.", "V"),
                                  rng) == []
    assert present_term_questions(chunk("c-p", "Datos\nUn proceso es una secuencia de pasos que se repite.", "D"),
                                  rng) == []
    purpose = "Escalas\nLa normalización sirve para poner todas las variables en la misma escala."
    assert present_term_questions(chunk("c-n", purpose, "Escalas"), rng) == []  # 'what is it' ≠ 'what for'
    place = "Empleo\nEn el mercado laboral es lo que más se utiliza en programación de datos."
    assert present_term_questions(chunk("c-m", place, "Empleo"), rng) == []  # not a term


def test_a_field_term_the_course_names_is_asked_of_the_sentence_that_names_it():
    rng = random.Random(2)
    text = ("Series de tiempo\nLas ventas se predicen mes a mes.\nUsamos una red LSTM de 64 unidades para la serie "
            "de ventas del ejemplo.")
    hit = chunk("c-lstm", text, "Series de tiempo")
    cand = named_term_question("las redes LSTM", "lstm", hit, rng)
    assert cand.kind == "counterpart" and cand.sentences == (
        "Usamos una red LSTM de 64 unidades para la serie de ventas del ejemplo.",)
    assert "64" in cand.facts
    forms = {named_term_question("las redes LSTM", "lstm", hit, rng).question for _ in range(40)}
    assert "explícame las redes LSTM" in forms and any("se usan las redes LSTM en" in q for q in forms)
    assert named_term_question("el filtro de Kalman", "kalman", hit, rng) is None  # not named here


def test_a_courses_field_terms_are_read_with_their_stems(tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("# vecindario del curso\n\nla Revolución Francesa\nel Imperio Otomano | Otomán  # raíz propia\n"
                     "Napoleón\n", encoding="utf-8")
    assert read_field_terms(terms) == (("la Revolución Francesa", "revolucion francesa"),
                                       ("el Imperio Otomano", "otoman"), ("Napoleón", "napoleon"))
    terms.write_text("# nada\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no terms"):
        read_field_terms(terms)
    terms.write_text("Napoleón\n | napoleon\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"terms.txt:2: expected"):
        read_field_terms(terms)
