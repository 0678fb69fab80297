import random

import pytest

from knowledge.answer.abstention import Thresholds, decide, decline_message, model_declined
from knowledge.answer.prompt import (
    MIN_SOURCE_CHARS,
    Exchange,
    Passage,
    build_messages,
    conversation,
    fit_prompt,
    prompt_tokens,
    select_passages,
    system_prompt,
    trim,
)
from knowledge.errors import QuestionTooLong
from knowledge.retrieval import Hit


def hit(text, title="Clase 27", loc=(10, 10), section="LoRA"):
    return Hit("id", "Semana 14/Clase 27.pdf", title, section, "page", loc[0], loc[1], 14, 1.0, text, 0.9)


def test_system_prompt_is_fixed_and_first():
    a = build_messages(system_prompt("IA"), select_passages([hit("uno")], "q", 3, 600, 1500), "¿qué es LoRA?")
    b = build_messages(system_prompt("IA"), select_passages([hit("dos")], "q", 3, 600, 1500), "otra",
                       conversation([Exchange("hola", "qué tal")], chained=False))
    assert a[0] == b[0] and a[0]["role"] == "system" and len(a) == 2
    assert a[1]["content"] == "Fuentes:\n\n[1] Clase 27, pág. 10\nuno\n\nPregunta: ¿qué es LoRA?"
    assert b[1:3] == [{"role": "user", "content": "Pregunta: hola"}, {"role": "assistant", "content": "qué tal"}]
    assert b[3]["content"].startswith("Fuentes:") and b[3]["content"].endswith("Pregunta: otra")


def test_sources_fit_the_budget_and_are_numbered():
    hits = [hit("frase. " * 200, loc=(i, i)) for i in range(1, 6)]
    sources = select_passages(hits, "frase", max_sources=3, max_chars_per_source=500, max_total_chars=1200)
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
    assert decide("respuesta sin fuente", 0.8, 0.9, 3, t, cited=False).reason == "uncited"


def test_decline_message_names_nearby_topics_and_staff():
    msg = decline_message([hit("x", section="LoRA"), hit("y", section="PEFT", loc=(12, 12))])
    assert "No encuentro" in msg and "LoRA" in msg and "PEFT" in msg and "equipo" in msg
    assert decline_message([hit("x")], "en").startswith("I can't find")


# -- fitting the prompt to the context: a fake tokenizer (one token per word), no model --------------------------
def words(text: str) -> int:
    return len(text.split())


SYSTEM = "Eres el asistente del curso. Responde con las fuentes."


def numbered(*texts: str) -> list[Passage]:
    return [Passage(n, hit(text, loc=(n, n)), text) for n, text in enumerate(texts, start=1)]


def prompt_size(messages: list[dict]) -> int:
    return prompt_tokens(words, messages)


def turns(*pairs: tuple[str, str]) -> list[Exchange]:
    return [Exchange(q, a) for q, a in pairs]


def sentences(n: int, topic: str = "tema") -> str:
    return " ".join(f"La frase {i} habla del {topic} con cinco palabras más." for i in range(n))


def test_a_prompt_that_fits_is_left_whole():
    sources, history = numbered(sentences(3), sentences(3)), turns(("¿Qué es?", "Es algo."))
    fitted = fit_prompt(words, 1000, SYSTEM, sources, "¿Cuánto vale?", history)
    assert fitted.messages == build_messages(SYSTEM, sources, "¿Cuánto vale?", conversation(history, False))
    assert fitted.left_out() == {} and fitted.tokens == prompt_size(fitted.messages) <= 1000


def test_history_is_dropped_oldest_first_before_any_source():
    sources = numbered(sentences(2), sentences(2))
    history = turns(("primera", "respuesta " * 50), ("segunda", "respuesta " * 50), ("tercera", "corta"))
    whole = prompt_size(build_messages(SYSTEM, sources, "¿y ahora?", conversation(history, False)))
    fitted = fit_prompt(words, whole - 70, SYSTEM, sources, "¿y ahora?", history)  # a turn is 62
    assert fitted.history == history[2:] and fitted.dropped_turns == 2
    assert fitted.passages == sources and fitted.left_out() == {"dropped_turns": 2}
    assert fitted.tokens == prompt_size(fitted.messages) <= whole - 70


def test_sources_are_cut_then_dropped_from_the_last_up_and_the_first_is_kept():
    sources = numbered(sentences(12, "proyecto"), sentences(12, "parcial"), sentences(12, "taller"))
    question = "¿Cuánto vale el proyecto?"
    fitted = fit_prompt(words, 120, SYSTEM, sources, question, turns(("antes", "algo " * 30)))
    assert fitted.history == [] and fitted.dropped_turns == 1
    assert [s.n for s in fitted.passages] == list(range(1, len(fitted.passages) + 1))
    assert fitted.dropped_sources >= 1 and fitted.passages[0].hit is sources[0].hit
    assert all(set(s.text.split()) <= set(sources[s.n - 1].text.split()) for s in fitted.passages)  # cut, not rewritten
    assert fitted.tokens == prompt_size(fitted.messages) <= 120


def test_a_question_too_long_for_the_budget_raises_and_says_how_long_it_may_be():
    question = "palabra " * 400
    with pytest.raises(QuestionTooLong) as raised:
        fit_prompt(words, 300, SYSTEM, numbered(sentences(3)), question, turns(("a", "b")))
    error = raised.value
    assert error.tokens == 400 and 0 < error.limit < 300
    assert f"caben unos {error.max_chars}" in str(error) and f"({error.limit} tokens)" in str(error)


def test_the_fitted_prompt_never_exceeds_the_budget_and_drops_no_more_than_it_must():
    rng = random.Random(22)
    for _ in range(400):
        sources = numbered(*(sentences(rng.randint(0, 20), rng.choice(["nota", "taller"])) or "x"
                             for _ in range(rng.randint(1, 3))))
        history = [Exchange(f"pregunta {i}", "palabra " * rng.randint(1, 300)) for i in range(rng.randint(0, 3))]
        question = "¿qué? " * rng.randint(1, 120)
        budget = rng.randint(20, 900)
        try:
            fitted = fit_prompt(words, budget, SYSTEM, sources, question, history)
        except QuestionTooLong as e:
            assert e.tokens == words(question) and e.limit < e.tokens
            # raised only when even no history and the first source at its shortest (a few words under
            # MIN_SOURCE_CHARS characters) cannot fit
            bare = build_messages(SYSTEM, [Passage(1, sources[0].hit, "")], question)
            assert prompt_size(bare) + MIN_SOURCE_CHARS > budget
            continue
        assert fitted.tokens == prompt_size(fitted.messages) <= budget
        assert fitted.history == history[len(history) - len(fitted.history):]  # the most recent turns kept
        assert [s.n for s in fitted.passages] == [s.n for s in sources[:len(fitted.passages)]]
        assert fitted.passages, "the first source is never dropped"
        if fitted.history:  # sources are cut only once the history is gone
            assert fitted.passages == sources
        if fitted.dropped_turns:  # one turn fewer dropped would not have fitted, with every source whole
            one_more = history[len(history) - len(fitted.history) - 1:]
            assert prompt_size(build_messages(SYSTEM, sources, question, conversation(one_more, False))) > budget


def answered(messages: list[dict], question: str, answer: str) -> Exchange:
    """The exchange the answerer remembers: what the model wrote, and the prompt after the system prompt."""
    return Exchange(question, answer, tuple(messages[1:]))


def test_a_follow_up_continues_the_previous_prompt_and_answer_word_for_word():
    first = build_messages(SYSTEM, numbered(sentences(3, "proyecto")), "¿Cuánto vale el proyecto?")
    one = answered(first, "¿Cuánto vale el proyecto?", "Vale 40 % [1].")
    second = fit_prompt(words, 1000, SYSTEM, numbered(sentences(3, "taller")), "¿y el taller?", [one])
    assert second.chained and second.left_out() == {}
    assert second.messages[:len(first)] == first  # the previous request is this one's prefix
    assert second.messages[len(first)] == {"role": "assistant", "content": "Vale 40 % [1]."}
    assert second.messages[-1]["content"].endswith("Pregunta: ¿y el taller?") and len(second.messages) == 4
    two = answered(second.messages, "¿y el taller?", "Vale 20 % [1].")
    third = fit_prompt(words, 1000, SYSTEM, numbered(sentences(2)), "¿y el examen?", [one, two])
    assert third.chained and third.messages[:len(second.messages)] == second.messages
    assert third.tokens == prompt_size(third.messages)


def test_a_conversation_too_long_to_continue_falls_back_to_its_questions_and_answers():
    first = build_messages(SYSTEM, numbered(sentences(12, "proyecto")), "¿Cuánto vale el proyecto?")
    one = answered(first, "¿Cuánto vale el proyecto?", "Vale 40 % [1].")
    sources = numbered(sentences(3, "taller"))
    chained = prompt_size(build_messages(SYSTEM, sources, "¿y el taller?", conversation([one], True)))
    fitted = fit_prompt(words, chained - 1, SYSTEM, sources, "¿y el taller?", [one])
    assert not fitted.chained and fitted.history == [one] and fitted.passages == sources
    assert fitted.messages[1:3] == [{"role": "user", "content": "Pregunta: ¿Cuánto vale el proyecto?"},
                                    {"role": "assistant", "content": "Vale 40 % [1]."}]
    assert "proyecto con cinco" not in str(fitted.messages)  # the earlier sources are gone, its answer kept
    assert fitted.tokens <= chained - 1
    # an exchange remembered without its prompt (declined, or from before prompts were kept) is sent alone
    bare = fit_prompt(words, 1000, SYSTEM, sources, "¿y el taller?", [Exchange("¿Cuánto vale?", "40 %")])
    assert not bare.chained and bare.messages[1]["content"] == "Pregunta: ¿Cuánto vale?"
