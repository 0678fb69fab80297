from knowledge.abstention import Thresholds, decide, decline_message, model_declined
from knowledge.prompt import build_messages, select_sources, system_prompt, trim
from knowledge.retrieval import Hit


def hit(text, title="Clase 27", loc=(10, 10), section="LoRA"):
    return Hit("id", "Semana 14/Clase 27.pdf", title, section, "page", loc[0], loc[1], 14, 1.0, text, 0.9)


def test_system_prompt_is_fixed_and_first():
    a = build_messages(system_prompt("IA"), select_sources([hit("uno")], "q", 3, 600, 1500), "¿qué es LoRA?")
    b = build_messages(system_prompt("IA"), select_sources([hit("dos")], "q", 3, 600, 1500), "otra",
                       history=[("hola", "qué tal")])
    assert a[0] == b[0] and a[0]["role"] == "system"
    assert a[1]["content"].startswith("Fuentes:\n\n[1] Clase 27, pág. 10\nuno")
    assert "Conversación previa" in b[1]["content"] and b[1]["content"].endswith("Pregunta: otra")


def test_sources_fit_the_budget_and_are_numbered():
    hits = [hit("frase. " * 200, loc=(i, i)) for i in range(1, 6)]
    sources = select_sources(hits, "frase", max_sources=3, max_chars_per_source=500, max_total_chars=1200)
    assert [s.n for s in sources] == [1, 2, 3]
    assert sum(len(s.text) for s in sources) <= 1200


def test_trim_keeps_relevant_sentences_in_order():
    text = "Intro sin relación. El learning rate de XGBoost es 0.1. Otra cosa. Y max_depth vale 6."
    out = trim(text, "¿qué learning rate y max_depth usa XGBoost?", 70)
    assert "learning rate" in out and "max_depth" in out and "Intro" not in out
    assert out.index("learning") < out.index("max_depth")


def test_decline_detection():
    assert model_declined("No encuentro esa información en los materiales del curso.")
    assert model_declined("Las fuentes no mencionan el horario.")
    assert model_declined("I could not find that in the sources.")
    assert not model_declined("LoRA entrena matrices de bajo rango [1].")


def test_decide_combines_signals():
    t = Thresholds(min_support=0.45, min_similarity=0.8)
    assert decide("x", 0.9, 0.9, 0, t).reason == "no_sources"
    assert decide("No encuentro esa información en los materiales.", 0.9, 0.9, 3, t).reason == "model_declined"
    assert decide("respuesta", 0.9, 0.7, 3, t).reason == "weak_retrieval"
    assert decide("respuesta", 0.2, 0.9, 3, t).reason == "unsupported"
    assert not decide("respuesta", 0.8, 0.9, 3, t).abstain


def test_decline_message_names_nearby_topics_and_staff():
    msg = decline_message([hit("x", section="LoRA"), hit("y", section="PEFT", loc=(12, 12))])
    assert "No encuentro" in msg and "LoRA" in msg and "PEFT" in msg and "equipo" in msg
    assert decline_message([hit("x")], "en").startswith("I can't find")
