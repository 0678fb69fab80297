"""One module per feature; `bot.app.build_application` wires them."""
