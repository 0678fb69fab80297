"""bot/tables.py: the bot's tables on the shared registry Base, on real SQLite and PostgreSQL, surviving a restart
and concurrent writers."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import inspect

from bot.tables import (
    ADMIN,
    STUDENT,
    Answer,
    Database,
    admin_ids,
    find_escalation,
    get_answer,
    get_user,
    knowledge_gaps,
    normalize_question,
    record_user,
    save_answer,
    save_escalation,
    set_feedback,
    set_role,
    stats,
    was_escalated,
)
from knowledge.database import make_sessionmaker
from knowledge.registry import utcnow


def database(url: str) -> Database:
    return Database(make_sessionmaker(url))


def ask(db: Database, question: str, abstained: bool = False, user: int = 1) -> int:
    return asyncio.run(db.run(save_answer, user_id=user, chat_id=user, question_message_id=1, question=question,
                              answer="r", citations=[{"n": 1, "file": "a.md", "label": "A", "text": "t"}],
                              abstained=abstained, timings={"total_ms": 5.0}))


def test_tables_share_the_registry_database(database_url):
    db = database(database_url)
    with db.sessions() as s:
        tables = set(inspect(s.get_bind()).get_table_names())
    assert {"sources", "bot_users", "bot_messages", "bot_feedback", "bot_escalations"} <= tables


def test_a_restart_loses_nothing(database_url):
    db = database(database_url)
    asyncio.run(db.run(record_user, 7, "Ana", "ana"))
    asyncio.run(db.run(set_role, 8, ADMIN))
    answer_id = ask(db, "¿Cuándo es el parcial?")
    asyncio.run(db.run(set_feedback, answer_id, 7, -1))
    asyncio.run(db.run(save_escalation, answer_id=answer_id, student_id=7, student_chat_id=7, student_message_id=3,
                       staff_chat_id=8, staff_message_id=99))
    db.sessions.kw["bind"].dispose()

    again = database(database_url)  # a new engine on the same file, as after a restart
    row = asyncio.run(again.run(get_answer, answer_id))
    assert row.question == "¿Cuándo es el parcial?" and row.citations[0]["label"] == "A"
    assert row.timings == {"total_ms": 5.0}
    assert asyncio.run(again.run(admin_ids)) == {8}
    escalation = asyncio.run(again.run(find_escalation, 8, 99))
    assert (escalation.student_chat_id, escalation.student_message_id) == (7, 3)
    assert asyncio.run(again.run(was_escalated, answer_id))
    assert asyncio.run(again.run(stats)).thumbs_down == 1


def test_recording_a_user_keeps_the_role(database_url):
    db = database(database_url)
    asyncio.run(db.run(set_role, 5, ADMIN))
    asyncio.run(db.run(record_user, 5, "Profe", None))
    asyncio.run(db.run(record_user, 6, "Ana", "ana"))
    user = asyncio.run(db.run(get_user, 5))
    assert user.role == ADMIN and user.name == "Profe"
    assert asyncio.run(db.run(get_user, 6)).role == STUDENT


def test_voting_again_replaces_the_vote(database_url):
    db = database(database_url)
    answer_id = ask(db, "q")
    asyncio.run(db.run(set_feedback, answer_id, 1, 1))
    asyncio.run(db.run(set_feedback, answer_id, 1, -1))
    asyncio.run(db.run(set_feedback, answer_id, 2, 1))
    st = asyncio.run(db.run(stats))
    assert (st.thumbs_up, st.thumbs_down) == (1, 1)


def test_stats_and_the_knowledge_gap_queue(database_url):
    db = database(database_url)
    asyncio.run(db.run(record_user, 1, "A", None))
    asyncio.run(db.run(record_user, 2, "B", None))
    ask(db, "¿Hay examen de recuperación?", abstained=True)
    ask(db, "hay examen de recuperacion", abstained=True, user=2)  # not the same words: accents differ
    ask(db, "¿HAY EXAMEN DE RECUPERACIÓN?", abstained=True, user=2)
    disliked = ask(db, "¿Qué es KNN?")
    ask(db, "¿Qué es KNN?")  # answered and not disliked: not a gap
    asyncio.run(db.run(set_feedback, disliked, 1, -1))
    ask(db, "¿Cuándo es el parcial?")
    st = asyncio.run(db.run(stats))
    assert (st.users, st.questions, st.abstained) == (2, 6, 3)
    assert round(st.abstention_rate, 2) == 0.5
    gaps = asyncio.run(db.run(knowledge_gaps))
    assert [(g.question, g.count, g.declined, g.disliked) for g in gaps] == [
        ("¿HAY EXAMEN DE RECUPERACIÓN?", 2, 2, 0),  # the latest wording of the most frequent gap
        ("¿Qué es KNN?", 1, 0, 1),  # ties: the most recent first
        ("hay examen de recuperacion", 1, 1, 0)]
    assert normalize_question("  ¿Qué   es KNN? ") == "qué es knn"


def test_gaps_order_ties_by_most_recent(database_url):
    db = database(database_url)
    old, new = ask(db, "vieja", abstained=True), ask(db, "nueva", abstained=True)

    def age(s, answer_id, days):
        s.get(Answer, answer_id).created_at = utcnow() - timedelta(days=days)

    asyncio.run(db.run(age, old, 3))
    asyncio.run(db.run(age, new, 1))
    assert [g.question for g in asyncio.run(db.run(knowledge_gaps))] == ["nueva", "vieja"]


def test_a_stale_escalation_for_the_same_staff_message_is_replaced(database_url):
    """Regression: a new bot token restarts message ids, and the unique (staff chat, message) key crashed."""
    db = database(database_url)
    first, second = ask(db, "uno"), ask(db, "dos")
    for answer_id in (first, second):
        asyncio.run(db.run(save_escalation, answer_id=answer_id, student_id=1, student_chat_id=1,
                           student_message_id=answer_id, staff_chat_id=8, staff_message_id=1))
    assert asyncio.run(db.run(find_escalation, 8, 1)).answer_id == second


def test_two_workers_writing_at_once_lose_nothing(database_url):
    """Two workers (two engines on one database) record the same new students, their questions and their votes
    at the same time: every question is kept, each student exists once, each vote once."""
    workers = [database(database_url), database(database_url)]
    students = range(100, 120)

    async def work(db: Database, offset: int) -> list[int]:
        ids = []
        for student in students:
            await db.run(record_user, student, f"Estudiante {student}", None)
            ids.append(await db.run(save_answer, user_id=student, chat_id=student, question_message_id=offset,
                                    question=f"q{student}-{offset}"))
        for answer_id in ids:
            for student in students:
                await db.run(set_feedback, answer_id, student, 1)
        return ids

    async def both():
        return await asyncio.gather(work(workers[0], 1), work(workers[1], 2))

    first, second = asyncio.run(both())
    st = asyncio.run(workers[0].run(stats))
    assert (st.users, st.questions) == (len(students), 2 * len(students))
    assert st.thumbs_up == 2 * len(students) * len(students)
    assert set(first).isdisjoint(second)
