from knowledge.ingest.chunking import describe, location_label, make_nodes
from knowledge.ingest.readers import Unit


def test_describe_reads_week_and_topic_from_folder():
    info = describe("Semana 14_Fine-Tuning y RAG/Clase 27.pdf", "abc")
    assert (info.week, info.topic, info.title) == (14, "Fine-Tuning y RAG", "Clase 27")
    assert describe("programa.md", "x").week == 0


def test_long_page_is_split_but_keeps_its_page():
    long_text = " ".join(f"Frase número {i} sobre descenso del gradiente." for i in range(80))
    units = [Unit("Intro corta pero suficiente " * 20, "page", 1, "Intro"), Unit(long_text, "page", 2, "GD")]
    nodes = make_nodes(units, describe("Clase.pdf", "sha"), chunk_size=400, chunk_overlap=60)
    later = [n for n in nodes if "Frase número 79" in n.text]
    assert len(nodes) > 3
    assert later and later[0].metadata["loc_start"] == later[0].metadata["loc_end"] == 2
    assert all(len(n.text) <= 400 for n in nodes)


def test_short_units_are_packed_and_record_the_range():
    units = [Unit("Título", "page", 1), Unit("Subtítulo breve", "page", 2),
             Unit("Contenido " * 60, "page", 3)]
    nodes = make_nodes(units, describe("a.pdf", "s"), chunk_size=900, chunk_overlap=100)
    first = nodes[0].metadata
    assert (first["loc_start"], first["loc_end"]) == (1, 3) or (first["loc_start"], first["loc_end"]) == (1, 2)


def test_ids_are_deterministic_and_versioned():
    units = [Unit("Texto de la página " * 10, "page", 1)]
    a = make_nodes(units, describe("a.pdf", "v1"), 900, 100)
    b = make_nodes(units, describe("a.pdf", "v1"), 900, 100)
    c = make_nodes(units, describe("a.pdf", "v2"), 900, 100)
    assert [n.node_id for n in a] == [n.node_id for n in b]
    assert a[0].node_id != c[0].node_id
    assert a[0].metadata["text_sha"] == c[0].metadata["text_sha"]  # same text, vector reusable


def test_embedded_text_starts_with_context():
    units = [Unit("LoRA congela los pesos y entrena matrices de bajo rango.", "page", 10, "LoRA")]
    node = make_nodes(units, describe("Semana 14_Fine-Tuning y RAG/Clase 27.pdf", "s"), 900, 100)[0]
    embedded = node.get_content(metadata_mode="embed")
    assert embedded.startswith("Fine-Tuning y RAG · Clase 27 · LoRA\n")
    assert node.get_content() == units[0].text


def test_location_labels():
    assert location_label("page", 9, 9) == "pág. 9"
    assert location_label("page", 9, 10) == "págs. 9–10"
    assert location_label("cell", 0, 0) == "celda 0"
    assert location_label("", 0, 0) == ""
