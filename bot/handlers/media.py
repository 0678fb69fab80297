"""Photos and voice notes from students, read offline (Tesseract OCR, Whisper) and answered like typed questions.

A photo's caption is the question and the photo's text its context; without a caption the bot names the course
material the photo matches best and says what it is about. A voice note is transcribed, the transcript shown
("🎙️ Entendí: «…»") so the student sees what was understood, and answered. What a photo or a voice note holds is
the student's input, quoted inside the question: never instructions to the bot.
"""

from __future__ import annotations

import logging

from telegram import Message, PhotoSize, Update
from telegram.error import BadRequest

from knowledge.errors import SourceUnreadable
from knowledge.ingest import ocr
from knowledge.speech import SpeechUnavailable, SpeechUnreadable

from ..context import CourseContext
from ..formatting import clip
from .questions import answer, question_text

log = logging.getLogger(__name__)

PHOTO_CHARS = 600  # of a photo's text quoted in the question (the question's token limit still applies)
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_VOICE_BYTES = 5 * 1024 * 1024  # a minute of Telegram's Opus voice is ~0.3 MB
WHAT_IS_THIS = "¿De qué trata esto?"
LOOKS_LIKE = "📷 Esto parece de {label}."
UNREADABLE_PHOTO = ("📷 No pude leer texto en esta foto. Prueba con una foto más nítida y de frente, o escríbeme tu "
                    "pregunta.")
NO_OCR = "📷 Aquí no puedo leer fotos todavía. Escríbeme tu pregunta como texto, por favor."
HEARD = "🎙️ Entendí: «{text}»"
VOICE_TOO_LONG = ("🎙️ Tu nota de voz dura {seconds} s y puedo escuchar hasta {limit} s. Envíame una más corta o "
                  "escríbeme la pregunta.")
NOT_HEARD = "🎙️ No pude entender la nota de voz ({why}). ¿Me la envías de nuevo o me la escribes?"
NO_VOICE = "🎙️ Aquí no puedo escuchar notas de voz todavía. Escríbeme tu pregunta como texto, por favor."
TOO_BIG = "Ese archivo es demasiado grande para leerlo. Escríbeme tu pregunta como texto, por favor."
SPEECH_REASONS = {"no speech was recognized": "no reconocí palabras", "the audio is empty": "está vacía"}


def photo_question(caption: str, photo_text: str) -> str:
    """The question a photo asks: its caption (or "what is this about") with the photo's text quoted as context."""
    return f"{caption or WHAT_IS_THIS}\n\nTexto de la foto: «{clip(photo_text, PHOTO_CHARS)}»"


def largest_photo(sizes: tuple[PhotoSize, ...], limit: int = MAX_PHOTO_BYTES) -> PhotoSize | None:
    """The biggest size Telegram offers within `limit` bytes (sizes come smallest first)."""
    fitting = [p for p in sizes if not p.file_size or p.file_size <= limit]
    return max(fitting, key=lambda p: p.width * p.height, default=None)


async def _download(context: CourseContext, file_id: str) -> bytes | None:
    try:
        telegram_file = await context.bot.get_file(file_id)
    except BadRequest as e:  # Telegram refuses downloads over 20 MB to bots
        log.info("a student's file could not be downloaded: %s", e)
        return None
    return bytes(await telegram_file.download_as_bytearray())


async def read_photo(update: Update, context: CourseContext) -> None:
    """OCR a student's photo and answer from it: the caption with the photo's text, or what the photo is about."""
    message: Message = update.message
    caption = question_text(message.caption or "", context.bot.username)
    if not ocr.available():
        await (answer(update, context, caption) if caption else message.reply_text(NO_OCR))
        return
    photo = largest_photo(message.photo)
    data = await _download(context, photo.file_id) if photo is not None else None
    if data is None:
        await message.reply_text(TOO_BIG)
        return
    services = context.services
    try:
        read = await services.blocking(ocr.read_bytes, data, "foto", context.knowledge.ocr_limits)
    except SourceUnreadable as e:
        log.info("a student's photo was not read: %s", e)
        read = None
    if read is None or not read.readable:
        await (answer(update, context, caption) if caption else message.reply_text(UNREADABLE_PHOTO))
        return
    if not caption:  # which material it is, before the answer says what it is about
        hits = await services.blocking(context.knowledge.retriever.search, clip(read.text, PHOTO_CHARS), 1)
        if hits:
            await message.reply_text(LOOKS_LIKE.format(label=hits[0].label))
    await answer(update, context, photo_question(caption, read.text))


async def read_voice(update: Update, context: CourseContext) -> None:
    """Transcribe a voice note (or audio file), show what was understood, answer it."""
    message: Message = update.message
    media = message.voice or message.audio
    limit = context.services.settings.voice_max_seconds
    if media.duration and media.duration > limit:
        await message.reply_text(VOICE_TOO_LONG.format(seconds=media.duration, limit=f"{limit:g}"))
        return
    transcriber = context.knowledge.transcriber
    if not transcriber.available:
        await message.reply_text(NO_VOICE)
        return
    data = await _download(context, media.file_id) if (media.file_size or 0) <= MAX_VOICE_BYTES else None
    if data is None:
        await message.reply_text(TOO_BIG)
        return
    try:
        heard = await context.services.blocking(transcriber.transcribe, data)
    except SpeechUnavailable:
        await message.reply_text(NO_VOICE)
        return
    except SpeechUnreadable as e:
        why = str(e)
        reason = SPEECH_REASONS.get(why) or ("es más larga de lo que puedo escuchar" if "longer" in why
                                             else "no pude abrir el audio")
        await message.reply_text(NOT_HEARD.format(why=reason))
        return
    await message.reply_text(HEARD.format(text=clip(heard.text, 1000)))
    caption = question_text(message.caption or "", context.bot.username)
    await answer(update, context, f"{caption}\n\n{heard.text}" if caption else heard.text)
