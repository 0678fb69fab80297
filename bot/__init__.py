"""The Telegram side of coursebot (python-telegram-bot); it only talks to `knowledge`."""
