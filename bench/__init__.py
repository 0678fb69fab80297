"""`coursebot bench`: the measurements and the report (only bench/ and tests import bot)."""
