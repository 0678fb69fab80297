"""knowledge/speech.py with the real Whisper base model on voice notes synthesized by espeak-ng and encoded as
Telegram does (OGG/Opus): Spanish and English understood, long, empty and broken audio refused clearly."""

import shutil

import pytest

from knowledge.speech import SpeechUnavailable, SpeechUnreadable, Transcriber, decode
from tests import files
from tests.conftest import MODELS_DIR

MODEL = MODELS_DIR / "whisper-base"
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make setup)")
needs_model = pytest.mark.skipif(not (MODEL / "model.bin").is_file(), reason="whisper-base missing: make setup")


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber(MODEL, threads=2, max_seconds=20)


@needs_model
def test_a_spanish_voice_note_is_transcribed_and_its_language_detected(transcriber):
    heard = transcriber.transcribe(files.voice_note("¿Cuándo es el examen final del curso?"))
    assert heard.language == "es" and 1.5 < heard.seconds < 6
    words = set(heard.text.lower().strip("¿?.").split())  # espeak's robotic voice: whole words, not every one
    assert {"examen", "curso"} <= words and len(words & {"cuándo", "cuando", "es", "el", "final", "del"}) >= 3


@needs_model
def test_an_english_voice_note_is_transcribed_in_english(transcriber):
    heard = transcriber.transcribe(files.voice_note("What is the learning rate?", voice="en"))
    words = set(heard.text.lower().strip("?.").split())
    assert heard.language == "en" and {"what", "rate"} <= words


def test_too_long_broken_and_empty_audio_are_refused_without_decoding_it_all():
    with pytest.raises(SpeechUnreadable, match="longer than 5 s"):
        decode(files.voice_note("Hola", seconds_of_silence=30), max_seconds=5)
    with pytest.raises(SpeechUnreadable, match="could not be decoded"):
        decode(b"OggS not really an ogg file" * 10, max_seconds=5)
    assert decode(files.voice_note("Hola"), max_seconds=5).dtype.name == "float32"


@needs_model
def test_silence_is_no_speech(transcriber):
    with pytest.raises(SpeechUnreadable, match="no speech was recognized"):
        transcriber.transcribe(files.voice_note("", seconds_of_silence=3))


def test_a_missing_model_says_how_to_get_it(tmp_path):
    absent = Transcriber(tmp_path / "whisper-base")
    assert not absent.available
    with pytest.raises(SpeechUnavailable, match="make setup assembles whisper-base"):
        absent.transcribe(files.voice_note("Hola"))
