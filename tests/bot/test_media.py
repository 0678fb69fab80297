"""bot/handlers/media.py through the emulator (sendPhoto-style updates, getFile, downloads) with the real engines:
Tesseract reads a photographed slide of the sample course, Whisper a voice note espeak-ng speaks, the tiny model
answers from the indexed sample course."""

from __future__ import annotations

import io
import shutil

import pytest
from telegram import PhotoSize

from bot.handlers import media
from bot.tables import get_answer
from knowledge.ingest.ocr import available as ocr_available
from tests import files
from tests.bot.test_app import OTHER, STUDENT, Harness, indexed_course, play
from tests.conftest import MODELS_DIR

pytestmark = pytest.mark.timeout(240)

CLASS_SLIDE = ("Validación cruzada\nLa validación cruzada de k pliegues divide el\nentrenamiento en k partes; entrena "
               "k veces,\ncada vez validando en una parte distinta,\ny promedia el error. En el curso usamos k = 5.")
SLIDE = ("Lasso (L1)\nLasso suma el valor absoluto de los coeficientes.\nPuede llevar coeficientes exactamente a\n"
         "cero, por lo que también sirve para\nseleccionar variables.")
needs_ocr = pytest.mark.skipif(not ocr_available(), reason="tesseract-ocr is not installed (make setup)")
needs_voice = pytest.mark.skipif(shutil.which("espeak-ng") is None or not (MODELS_DIR / "whisper-base/model.bin")
                                 .is_file(), reason="espeak-ng or whisper-base missing (make setup)")


@pytest.fixture(scope="module")
def course(weaviate_server, tmp_path_factory):
    with indexed_course(weaviate_server, tmp_path_factory.mktemp("course")) as (settings, kb):
        yield settings, kb


def photo_of(text: str) -> bytes:
    """A phone photo of `text`: JPEG, as Telegram delivers photos."""
    buf = io.BytesIO()
    files.text_image(text, width=1280).convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def test_the_question_a_photo_asks_quotes_its_text_and_the_biggest_size_within_the_limit_is_read():
    question = media.photo_question("", "Lasso suma el valor\nabsoluto")
    assert question == "¿De qué trata esto?\n\nTexto de la foto: «Lasso suma el valor absoluto»"
    long = media.photo_question("¿y esto?", "x" * 2000)
    assert long.startswith("¿y esto?\n\n") and long.endswith("…»") and len(long) < 700
    sizes = (PhotoSize("a", "ua", 90, 60, 2_000), PhotoSize("b", "ub", 1280, 853, 200_000),
             PhotoSize("c", "uc", 2560, 1706, 12 * 2**20))
    assert media.largest_photo(sizes).file_id == "b" and media.largest_photo(sizes, 20 * 2**20).file_id == "c"
    assert media.largest_photo(sizes[2:]) is None


@needs_ocr
def test_a_photo_of_a_slide_names_its_material_and_is_answered_with_citations(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        # a phone photo of page 6 of the sample course's first class
        await h.process(message=h.emu.send_photo(STUDENT, photo_of(CLASS_SLIDE)))
        texts = h.texts(STUDENT)
        assert texts[0] == "📷 Esto parece de Clase 1 Introducción, pág. 6.", texts
        # then the answer path on the photo's text: cited from that class, or (the tiny model often cites
        # nothing) declined naming it as the closest material
        assert "Fuentes" in texts[-1] or texts[-1].startswith("🤷 No encuentro"), texts[-1]
        assert "Clase 1 Introducción, pág. 6" in texts[-1], texts[-1]
        assert "getFile" in h.request.methods()

    play(settings, kb, scenario)


@needs_ocr
def test_a_captioned_photo_asks_its_caption_with_the_photos_text_as_context(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.process(message=h.emu.send_photo(OTHER, photo_of(SLIDE), caption="¿Para qué sirve esto?"))
        texts = h.texts(OTHER)
        assert not any(t.startswith("📷 Esto parece") for t in texts)  # the caption is the question
        assert "lectura regularizacion" in texts[-1], texts  # found from the photo's text
        answer_id = int(h.last(OTHER)["reply_markup"]["inline_keyboard"][0][0]["callback_data"].split(":")[1])
        asked = await h.services.db.run(lambda s: get_answer(s, answer_id).question)  # what was answered
        assert asked.startswith("¿Para qué sirve esto?\n\nTexto de la foto: «Lasso (L1) Lasso suma el valor"), asked

    play(settings, kb, scenario)


@needs_ocr
def test_a_photo_it_cannot_read_says_so_and_its_caption_is_still_answered(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.process(message=h.emu.send_photo(STUDENT, b"\xff\xd8\xff not really a jpeg"))
        assert h.texts(STUDENT) == [media.UNREADABLE_PHOTO]
        blank = io.BytesIO()
        files.text_image("").convert("RGB").save(blank, format="JPEG")
        await h.process(message=h.emu.send_photo(STUDENT, blank.getvalue()))
        assert h.texts(STUDENT)[1:] == [media.UNREADABLE_PHOTO]
        await h.process(message=h.emu.send_photo(STUDENT, b"\xff\xd8\xff", caption="¿Cuánto vale el proyecto final?"))
        assert "Fuentes" in h.texts(STUDENT)[-1]

    play(settings.model_copy(update={"rate_per_minute": 20}), kb, scenario)


@needs_voice
def test_a_voice_note_is_transcribed_shown_and_answered(course):
    settings, kb = course
    note = files.voice_note("¿Qué es la regularización?")

    async def scenario(h: Harness) -> None:
        await h.process(message=h.emu.send_voice(STUDENT, note, duration=3))
        texts = h.texts(STUDENT)
        assert texts[0].startswith("🎙️ Entendí: «") and "regularización" in texts[0].lower(), texts
        assert len(texts) == 2 and "lectura regularizacion" in texts[-1], texts  # the transcript was answered

    play(settings, kb, scenario)


def test_a_voice_note_too_long_is_not_downloaded_and_a_broken_one_is_explained(course):
    settings, kb = course

    async def scenario(h: Harness) -> None:
        await h.process(message=h.emu.send_voice(STUDENT, b"OggS" + b"\x00" * 100, duration=95))
        assert h.texts(STUDENT) == [media.VOICE_TOO_LONG.format(seconds=95, limit="60")]
        assert "getFile" not in h.request.methods()
        await h.process(message=h.emu.send_voice(STUDENT, b"OggS not an ogg at all" * 20, duration=3))
        if (MODELS_DIR / "whisper-base/model.bin").is_file():
            assert h.texts(STUDENT)[1:] == [media.NOT_HEARD.format(why="no pude abrir el audio")]
        else:
            assert h.texts(STUDENT)[1:] == [media.NO_VOICE]

    play(settings.model_copy(update={"rate_per_minute": 20}), kb, scenario)
