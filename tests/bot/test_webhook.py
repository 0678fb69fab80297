"""Webhook mode with two workers: two real `coursebot serve --webhook` processes behind a round-robin proxy share
one PostgreSQL database, one Weaviate and one llama.cpp server (llama-cpp-python's, serving the tiny model); the
emulator (as a local Bot API server) posts each update to the proxy with the secret token, so a student's
updates reach the workers alternately. They behave as one bot: limits, follow-ups and roles are shared, and a
restart of both loses none of them. A request without the secret is refused."""

from __future__ import annotations

import json

import httpx
import pytest

from knowledge.server import free_port
from tests.bot.emulator import TelegramEmulator
from tests.bot.test_app import ADMIN, FAST_ANSWERS, TOKEN, indexed_course
from tests.bot.workers import SECRET_HEADER, RoundRobin, Worker, worker_env
from tests.conftest import TINY_MODEL
from tests.llama_server import FaultProxy, LlamaServer

STUDENT, OTHER, NEW_ADMIN = 3001, 3002, 3003
SECRET = "s3cret_token-for-tests"
PATH = "telegram"


@pytest.fixture
def cluster(tmp_path, weaviate_server, postgres_server):
    """The sample course indexed; a generator server behind a recording proxy; two workers' settings."""
    database = postgres_server.create_database()
    with indexed_course(weaviate_server, tmp_path, database_url=database) as (settings, kb):
        server = LlamaServer(TINY_MODEL, tmp_path, n_ctx=settings.n_ctx).start()
        generator = FaultProxy(server.url)
        emu = TelegramEmulator(TOKEN, local=True).start_in_thread()
        ports = [free_port(), free_port()]
        proxy = RoundRobin(ports, PATH)
        values = {f"COURSEBOT_{k.upper()}": v for k, v in FAST_ANSWERS.items() if k != "generator_model"}
        env = worker_env({
            **values, "TELEGRAM_BOT_TOKEN": TOKEN, "ADMIN_IDS": ADMIN,
            "TELEGRAM_API_BASE_URL": f"{emu.base_url}/bot", "TELEGRAM_FILE_BASE_URL": f"{emu.base_url}/file/bot",
            "TELEGRAM_WEBHOOK_URL": proxy.url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "DATABASE_URL": database, "COURSEBOT_GENERATOR_URL": generator.url,
            "WEAVIATE_URL": settings.weaviate_url, "WEAVIATE_GRPC_PORT": settings.weaviate_grpc_port,
            "COURSEBOT_COLLECTION": settings.collection, "COURSEBOT_MODELS_DIR": settings.models_dir,
            "COURSEBOT_ABSTAIN_MIN_SUPPORT": 0.0, "COURSEBOT_ABSTAIN_MIN_SIMILARITY": 0.0,
            "COURSEBOT_ANSWER_CHECK": "overlap",
            "COURSEBOT_RATE_PER_MINUTE": 5, "COURSEBOT_RATE_PER_DAY": 5, "COURSEBOT_EDIT_INTERVAL": 0.2,
        })
        workers = []
        for i, port in enumerate(ports):
            data = tmp_path / f"worker{i}"
            data.mkdir()
            workers.append(Worker({**env, "COURSEBOT_DATA_DIR": str(data)}, port, tmp_path / f"worker{i}.log", data))
        try:
            yield emu, proxy, generator, workers
        finally:
            for worker in workers:
                worker.stop()
            proxy.close()
            emu.stop_thread()
            generator.close()
            server.stop()


def start(workers: list[Worker]) -> None:
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.wait_ready()


def answered(emu: TelegramEmulator, chat_id: int, count: int) -> bool:
    """`count` answers finished in `chat_id` (an answer is final once it carries its keyboard)."""
    return len([m for m in emu.bot_messages(chat_id) if m.get("reply_markup")]) >= count


def texts(emu: TelegramEmulator, chat_id: int) -> list[str]:
    return [m["text"] or "" for m in emu.bot_messages(chat_id)]


def prompt_of(body: bytes) -> str:
    return json.dumps(json.loads(body)["messages"], ensure_ascii=False)


def test_two_webhook_workers_behave_as_one_bot(cluster):
    emu, proxy, generator, workers = cluster
    start(workers)
    assert emu.api_getWebhookInfo({})["url"] == proxy.url
    for user in (ADMIN, STUDENT, OTHER, NEW_ADMIN):
        emu.add_chat(user)

    # a request without the right secret token is refused, and nothing happens
    update = {"update_id": 999, "message": {"message_id": 1, "date": 0, "chat": {"id": STUDENT, "type": "private"},
                                            "from": {"id": STUDENT, "is_bot": False, "first_name": "S"},
                                            "text": "/start", "entities": [{"type": "bot_command", "offset": 0,
                                                                            "length": 6}]}}
    for headers in ({}, {SECRET_HEADER: "wrong"}):
        assert httpx.post(f"http://127.0.0.1:{workers[0].port}/{PATH}", json=update, headers=headers).status_code == 403

    # a follow-up answered by one worker uses the turn the other answered
    emu.send_text(STUDENT, "¿Cuándo es el examen final?")
    emu.wait_for(lambda e: answered(e, STUDENT, 1), timeout=60)
    emu.send_text(STUDENT, "¿Y cuánto vale?")
    emu.wait_for(lambda e: answered(e, STUDENT, 2), timeout=60)
    assert [w for w, _ in proxy.routed[-2:]] in ([0, 1], [1, 0])
    assert "examen final" in prompt_of(generator.bodies[-1])

    # a sixth question within a minute is refused whichever worker gets it
    for n in range(3):
        emu.send_text(STUDENT, f"¿Pregunta {n}?")
    emu.wait_for(lambda e: answered(e, STUDENT, 5), timeout=90)
    emu.send_text(STUDENT, "¿Una sexta?")
    emu.send_text(STUDENT, "¿Y una séptima?")
    emu.wait_for(lambda e: sum("Vas muy rápido" in t for t in texts(e, STUDENT)) == 2, timeout=30)
    refused_by = {w for w, u in proxy.routed if u.get("message", {}).get("text", "").startswith(("¿Una", "¿Y una"))}
    assert refused_by == {0, 1}
    assert answered(emu, STUDENT, 5) and not answered(emu, STUDENT, 6)

    # an admin added on one worker is an admin on the other
    emu.send_text(ADMIN, f"/admin add {NEW_ADMIN}")
    emu.wait_for(lambda e: any("ahora es admin" in t for t in texts(e, ADMIN)), timeout=30)
    emu.send_text(NEW_ADMIN, "/stats")
    emu.wait_for(lambda e: texts(e, NEW_ADMIN), timeout=30)
    assert proxy.routed[-1][0] != proxy.routed[-2][0]
    assert "⛔" not in texts(emu, NEW_ADMIN)[-1]

    # OTHER starts a conversation; then both workers restart
    emu.send_text(OTHER, "¿Cuándo es el examen final?")
    emu.wait_for(lambda e: answered(e, OTHER, 1), timeout=60)
    for worker in workers:
        worker.stop()
    start(workers)
    before = len(texts(emu, STUDENT))
    emu.send_text(STUDENT, "¿Otra más después del reinicio?")  # the windows survived: today's 5 are used
    emu.wait_for(lambda e: len(texts(e, STUDENT)) > before, timeout=30)
    assert any(refusal in texts(emu, STUDENT)[-1] for refusal in ("Llegaste al máximo", "Vas muy rápido"))
    emu.send_text(OTHER, "¿Y cuánto vale?")  # the conversation survived
    emu.wait_for(lambda e: answered(e, OTHER, 2), timeout=60)
    assert "examen final" in prompt_of(generator.bodies[-1]), texts(emu, OTHER)
    assert all(w.output().count("serving ") == 2 for w in workers)
