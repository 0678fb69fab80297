"""`coursebot serve`: registered on the knowledge CLI through the `coursebot.commands` entry point."""

from __future__ import annotations

import typer

from knowledge.core import Knowledge
from knowledge.errors import KnowledgeError


def serve() -> None:
    """Run the Telegram bot (long polling) until Ctrl-C."""
    from .app import build_application, setup_logging
    from .settings import load_bot_settings

    setup_logging()
    settings = load_bot_settings()
    if not settings.telegram_bot_token.get_secret_value():
        raise KnowledgeError("TELEGRAM_BOT_TOKEN is not set (the token from @BotFather)")
    # post_init opens the knowledge core (Weaviate, the model) and post_shutdown closes it
    application = build_application(settings, Knowledge(settings))
    application.run_polling(drop_pending_updates=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
