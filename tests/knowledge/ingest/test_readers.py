import pytest

from knowledge.errors import SourceUnreadable
from knowledge.ingest.filetypes import sniff
from knowledge.ingest.readers import read_units
from tests import files


@pytest.fixture
def made(tmp_path):
    return files.all_formats(tmp_path)


def units_of(path):
    return read_units(path, sniff(path, 10_000_000))


def test_pdf_one_unit_per_page(made):
    units = units_of(made["pdf"])
    assert [(u.loc_kind, u.loc) for u in units] == [("page", 1), ("page", 2), ("page", 3)]
    assert "ReLU" in units[2].text


def test_pptx_slides_with_notes(made):
    units = units_of(made["pptx"])
    assert [(u.loc_kind, u.loc) for u in units] == [("slide", 1), ("slide", 2)]
    assert units[1].section == "Árboles de decisión"
    assert "Gini" in units[1].text and "entropía" in units[1].text


def test_docx_sections_by_heading(made):
    units = units_of(made["docx"])
    assert [u.section for u in units] == ["Entregas", "Bibliografía"]
    assert "domingo" in units[0].text


def test_notebook_cells_are_zero_based_and_keep_outputs(made):
    units = units_of(made["notebook"])
    assert [u.loc for u in units] == [0, 1, 2, 3]
    assert "(1200, 8)" in units[1].text
    assert units[3].section == "Agrupación"


def test_notebook_outputs_are_truncated_and_images_dropped(tmp_path):
    nb = files.notebook(tmp_path / "big.ipynb", [("code", "print('x' * 10**6)")], outputs={0: "x" * 100_000})
    units = units_of(nb)
    assert len(units[0].text) < 1000


def test_markdown_sections(made):
    units = units_of(made["markdown"])
    sections = [u.section for u in units]
    assert any("Asistencia" in s for s in sections) and any("Recuperación" in s for s in sections)


def test_html_main_text_without_scripts_or_nav(made):
    units = units_of(made["html"])
    joined = " ".join(u.text for u in units)
    assert "aula 305" in joined
    assert "alert" not in joined and "menu" not in joined


def test_csv_rows_as_fields(made):
    units = units_of(made["csv"])
    assert "estudiante: Ana; nota: 4.5" in units[0].text


def test_pdf_without_text_layer(tmp_path):
    blank = files.pdf(tmp_path / "escaneado.pdf", ["", ""])
    with pytest.raises(SourceUnreadable, match="no text found"):
        units_of(blank)


def test_encrypted_pdf(tmp_path):
    with pytest.raises(SourceUnreadable, match="password"):
        units_of(files.encrypted_pdf(tmp_path / "cifrado.pdf"))


def test_truncated_pdf(tmp_path, made):
    broken = tmp_path / "roto.pdf"
    broken.write_bytes(made["pdf"].read_bytes()[:300])
    with pytest.raises(SourceUnreadable, match="roto.pdf"):
        units_of(broken)


def test_page_limit(tmp_path):
    many = files.pdf(tmp_path / "largo.pdf", ["página"] * 12)
    with pytest.raises(SourceUnreadable, match="exceeds the limit"):
        read_units(many, "pdf", max_pages=10)
