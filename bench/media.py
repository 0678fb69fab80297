"""`coursebot bench`'s media section: reading a photo (Tesseract OCR) and a voice note (Whisper) of a question,
beside answering the same question typed, on this machine and in the same run.

The photos are the question rendered as a phone would photograph a printed line, and a page of course-like text;
the voice notes are the question spoken by espeak-ng and encoded as Telegram encodes voice (OGG/Opus). The
renderers are here, not in tests/, because the benchmark needs them too; tests/files.py uses them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from knowledge.answer.answerer import Answerer
from knowledge.core import Knowledge
from knowledge.ingest import ocr

from .report import Figure, at_most, percentile

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core
PAGE_LINES = 18


def render_text(text: str, width: int = 1400, size: int = 34):
    """A PIL image of `text`, black on white, one line per line of `text`."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), size) if FONT.is_file() else ImageFont.load_default(size)
    lines = text.splitlines()
    image = Image.new("L", (width, 80 + len(lines) * int(size * 1.6)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((50, 40 + i * int(size * 1.6)), line, font=font, fill=0)
    return image


def wrap(text: str, width: int = 60) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def speak(text: str, voice: str = "es", seconds_of_silence: float = 0.0) -> bytes:
    """`text` spoken by espeak-ng, as an OGG/Opus voice note (mono, 48 kHz), with silence appended if asked."""
    import av
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        wav, out = Path(tmp) / "voz.wav", Path(tmp) / "voz.ogg"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "140", "-w", str(wav), text], check=True, capture_output=True)
        with av.open(str(wav)) as source, av.open(str(out), "w", format="ogg") as sink:
            stream = sink.add_stream("libopus", rate=48000)
            stream.layout = "mono"
            resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
            frames = [f for frame in source.decode(audio=0) for f in resampler.resample(frame)]
            if seconds_of_silence:
                quiet = av.AudioFrame.from_ndarray(np.zeros((1, int(48000 * seconds_of_silence)), dtype=np.int16),
                                                   format="s16", layout="mono")
                quiet.sample_rate = 48000
                frames.append(quiet)
            for frame in [*frames, None]:
                for packet in stream.encode(frame):
                    sink.mux(packet)
        return out.read_bytes()


def _ms(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return (time.perf_counter() - start) * 1000


def _typed_answer_ms(answerer: Answerer, question: str) -> float:
    start = time.perf_counter()
    answerer.answer(question)
    return (time.perf_counter() - start) * 1000


def bench_media(kb: Knowledge, questions: list[str]) -> list[Figure]:
    """OCR ms per photo and per page, transcription seconds per audio second, each beside the typed answer."""
    typed = [_typed_answer_ms(kb.answerer, q) for q in questions]
    baseline, label = percentile(typed, 50), "answering the same question typed (p50)"
    figures, limits = [], kb.ocr_limits
    note = f"{len(questions)} questions; {kb.generator.name}, {kb.generator.n_threads} threads"
    if ocr.available():
        photos = [_ms(ocr.read_image, render_text(wrap(q)), "foto", limits) for q in questions]
        page = render_text("\n".join(wrap(" ".join(questions * PAGE_LINES)).splitlines()[:PAGE_LINES]))
        pages = [_ms(ocr.read_image, page, "página", limits) for _ in range(2)]
        figures += [Figure("media", "OCR of a photo of the question p50", percentile(photos, 50), "ms",
                           at_most(5000), baseline, label, note),
                    Figure("media", f"OCR of a {PAGE_LINES}-line page p50", percentile(pages, 50), "ms",
                           at_most(15000), baseline, label, f"{page.width}×{page.height} px")]
    transcriber = kb.transcriber
    if shutil.which("espeak-ng") and transcriber.available:
        notes = [speak(q) for q in questions]
        transcriber.transcribe(notes[0])  # the model loads outside the timings
        rows = []
        for note_bytes in notes:
            start = time.perf_counter()
            heard = transcriber.transcribe(note_bytes)
            rows.append(((time.perf_counter() - start) * 1000, heard.seconds))
        rtf = percentile([ms / 1000 / seconds for ms, seconds in rows], 50)
        figures += [Figure("media", "voice note → text p50", percentile([ms for ms, _ in rows], 50), "ms",
                           at_most(10_000), baseline, label, f"audio p50 {percentile([s for _, s in rows], 50):.1f} s"),
                    Figure("media", "transcription seconds per audio second p50", rtf, "s/s", None, 1.0, "real time",
                           f"{transcriber.model_dir.name}; Whisper reads 30-s windows, so short notes cost more per "
                           "second")]
    return figures
