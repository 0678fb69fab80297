"""TelegramEmulator: the aiohttp server, its lifecycle, HTTP handling and the long-polling getUpdates."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .api import BotApi
from .common import DEFAULT_UPDATES, JSON_PARAMS, ApiError, Upload, _int


class TelegramEmulator(BotApi):
    """The Bot API over HTTP: `await start()`/`stop()` or `async with`; start_in_thread()/stop_thread()."""

    def __init__(self, token: str = "123456:TEST-TOKEN", username: str = "coursebot_test",
                 first_name: str = "Course Bot", host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time, local: bool = False):
        super().__init__(token, username, first_name, clock, local)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._waiters: set[asyncio.Future] = set()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._delivery: asyncio.Task | None = None
        self._methods = {name[4:].lower(): getattr(self, name) for name in dir(self)
                         if name.startswith("api_")}

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> TelegramEmulator:
        self._loop, self._closing = asyncio.get_running_loop(), False
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self._delivery = asyncio.create_task(self._deliver_webhook())
        return self

    async def stop(self) -> None:
        self._closing = True
        self._wake()  # end pending long polls at once
        if self._delivery is not None:
            self._delivery.cancel()
            await asyncio.gather(self._delivery, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._loop = None

    async def __aenter__(self) -> TelegramEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> TelegramEmulator:
        """Run the server in a daemon thread with its own event loop (for sync tests)."""
        loop = self._thread_loop = asyncio.new_event_loop()
        started = asyncio.run_coroutine_threadsafe(self.start(), loop)
        self._thread = threading.Thread(target=loop.run_forever, name="telegram-emulator", daemon=True)
        self._thread.start()
        try:
            started.result(timeout)
        except BaseException:
            self.stop_thread(timeout)
            raise
        return self

    def stop_thread(self, timeout: float = 10.0) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()
            self._thread = self._thread_loop = None

    def __enter__(self) -> TelegramEmulator:
        return self.start_in_thread()

    def __exit__(self, *exc_info: object) -> None:
        self.stop_thread()

    def _notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    # --- HTTP ------------------------------------------------------------------------------------

    @staticmethod
    def _error(error: ApiError) -> web.Response:
        return web.json_response(error.as_json(), status=error.code)

    async def _read_params(self, request: web.Request) -> dict:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: parameters must be a JSON object")
            params.update(body)
        elif request.can_read_body:  # application/x-www-form-urlencoded or multipart/form-data
            for key, value in (await request.post()).items():
                params[key] = (Upload(value.filename, value.content_type, value.file.read())
                               if isinstance(value, web.FileField) else value)
        for key in JSON_PARAMS & params.keys():
            if isinstance(params[key], str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from None
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token != self.token:  # Telegram answers 404 to malformed tokens, 401 to unknown ones
            return self._error(ApiError(401, "Unauthorized") if re.fullmatch(r"\d+:[\w-]+", token)
                               else ApiError(404, "Not Found"))
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
            with self._lock:
                self._calls.append((method, params))
                handler = self._methods.get(method.lower())
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = None if method.lower() == "getupdates" else handler(params)
            if method.lower() == "getupdates":
                if self._webhook["url"]:
                    raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use "
                                        "deleteWebhook to delete the webhook first")
                result = await self.api_getUpdates(params)
        except ApiError as err:
            return self._error(err)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        with self._lock:
            found = [f for f in self._files.values() if f["file_path"] == request.match_info["path"]]
        if request.match_info["token"] != self.token or not found:
            return self._error(ApiError(404, "Not Found"))
        return web.Response(body=found[0]["data"], content_type="application/octet-stream")

    # --- webhook delivery (a task in the event loop) ----------------------------------------------

    async def _deliver_webhook(self) -> None:
        """POST each pending update, in order, to the webhook with its secret token header, as Telegram does;
        a non-2xx answer or a refused connection is recorded (getWebhookInfo) and the update sent again."""
        import aiohttp

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            while not self._closing:
                with self._lock:
                    hook = dict(self._webhook)
                    self._updates = [u for u in self._updates if self._allowed & u.keys()]
                    update = copy.deepcopy(self._updates[0]) if hook["url"] and self._updates else None
                if update is None:
                    await self._wait(1.0)
                    continue
                headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook.get("secret_token") \
                    else {}
                try:
                    async with http.post(hook["url"], json=update, headers=headers) as response:
                        status, error = response.status, f"Wrong response from the webhook: {response.status} " \
                                                         f"{response.reason}"
                except (aiohttp.ClientError, TimeoutError) as e:
                    status, error = 0, f"Connection refused: {e}"
                with self._lock:
                    self.deliveries.append((update["update_id"], status))
                    if 200 <= status < 300:
                        self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                    else:
                        self._webhook.update(last_error_date=int(self.clock()), last_error_message=error)
                if not 200 <= status < 300:
                    await asyncio.sleep(0.5)

    async def _wait(self, timeout: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    # --- long polling (runs in the event loop, not under the lock) --------------------------------

    async def api_getUpdates(self, params: dict) -> list[dict]:
        offset, limit = _int(params, "offset", 0), min(max(_int(params, "limit", 100), 1), 100)
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        with self._lock:
            if params.get("allowed_updates") is not None:
                self._allowed = set(params["allowed_updates"] or DEFAULT_UPDATES)
            if offset < 0:
                self._updates = self._updates[offset:]
            elif offset:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if self._allowed & u.keys()]
                if self._updates or self._closing or time.monotonic() >= deadline:
                    return copy.deepcopy(self._updates[:limit])
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, max(deadline - time.monotonic(), 0.0))
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
