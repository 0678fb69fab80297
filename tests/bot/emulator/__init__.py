"""A local Telegram Bot API emulator for end-to-end tests; see state.py for the overview.

Modules, each importing only those before it: common (constants, ApiError, Upload, parameter helpers),
html (parse_html, clean_text, find_bot_commands), media (media drivers, a mixin of BotState), state
(BotState), api (BotApi: the api_* methods), server (TelegramEmulator: aiohttp server and getUpdates).
"""

from .api import BotApi
from .common import CHANNEL_BOT, GROUP_ANONYMOUS_BOT, ApiError, Upload
from .html import clean_text, find_bot_commands, parse_html, utf16_len
from .server import TelegramEmulator
from .state import BotState

__all__ = ["CHANNEL_BOT", "GROUP_ANONYMOUS_BOT", "ApiError", "BotApi", "BotState", "TelegramEmulator", "Upload",
           "clean_text", "find_bot_commands", "parse_html", "utf16_len"]
