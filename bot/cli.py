"""`coursebot serve`: registered on the knowledge CLI through the `coursebot.commands` entry point."""

from __future__ import annotations

import typer

EXIT_ERROR = 1


def serve() -> None:
    """Run the Telegram bot (long polling) until Ctrl-C."""
    from telegram.error import InvalidToken, NetworkError

    from knowledge.core import Knowledge

    from .app import build_application, setup_logging
    from .handlers.errors import redact
    from .settings import load_bot_settings

    setup_logging()
    settings = load_bot_settings()
    token = settings.telegram_bot_token.get_secret_value()
    if not token:
        fail("TELEGRAM_BOT_TOKEN is not set (the token from @BotFather)")
    # post_init opens the knowledge core (Weaviate, the model) and post_shutdown closes it
    application = build_application(settings, Knowledge(settings))
    try:
        application.run_polling()
    except InvalidToken:
        fail("Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)")
    except NetworkError as e:
        fail(f"cannot reach the Bot API at {settings.telegram_api_base_url}: {redact(str(e), [token])}")


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
