"""`coursebot serve`: registered on the knowledge CLI through the `coursebot.commands` entry point."""

from __future__ import annotations

from urllib.parse import urlsplit

import typer

EXIT_ERROR = 1


def serve(webhook: bool = typer.Option(
        False, "--webhook", help="receive updates on a webhook (TELEGRAM_WEBHOOK_URL, COURSEBOT_WEBHOOK_LISTEN, "
                                 "COURSEBOT_WEBHOOK_PORT, TELEGRAM_WEBHOOK_SECRET) instead of long polling; "
                                 "several workers may share one database behind a proxy")) -> None:
    """Run the Telegram bot until Ctrl-C: long polling by default, or a webhook server."""
    from telegram.error import InvalidToken, NetworkError

    from knowledge.core import Knowledge

    from .app import build_application, redact_logs, setup_logging
    from .handlers.errors import redact
    from .settings import load_bot_settings

    setup_logging()
    settings = load_bot_settings()
    token = settings.telegram_bot_token.get_secret_value()
    if not token:
        fail("TELEGRAM_BOT_TOKEN is not set (the token from @BotFather)")
    if webhook and not settings.webhook_url:
        fail("--webhook needs TELEGRAM_WEBHOOK_URL (the public HTTPS URL Telegram posts updates to)")
    if webhook and not settings.webhook_secret.get_secret_value():
        fail("--webhook needs TELEGRAM_WEBHOOK_SECRET, so that only Telegram can post updates")
    # post_init opens the knowledge core (Weaviate, the model) and post_shutdown closes it
    application = build_application(settings, Knowledge(settings))
    try:
        if webhook:
            secret = settings.webhook_secret.get_secret_value()
            redact_logs(secret)
            # PTB's webhook server answers 403 to a request whose X-Telegram-Bot-Api-Secret-Token is not `secret`
            application.run_webhook(listen=settings.webhook_listen, port=settings.webhook_port,
                                    url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
                                    webhook_url=settings.webhook_url, secret_token=secret)
        else:
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
