"""The scheduled refresh (PTB's timerbot.py pattern): one job named "refresh" that replaces itself.

It runs `knowledge.refresh.run_refresh` — the same job as cron's `scripts/refresh_index.py`, under the same
index lease — and tells the admins when something changed or went wrong. With several workers sharing one
database, exactly one runs it: the one holding the "scheduler" lease, which it renews every LEASE_TTL/3 s
(job "lease"); a worker that dies stops renewing, and another takes over within LEASE_TTL.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application

from knowledge.errors import KnowledgeError, RefreshBusy
from knowledge.leases import claim

from . import materials
from .context import CourseContext, Services
from .formatting import pack, plain_blocks

log = logging.getLogger(__name__)

JOB_NAME, LEASE_JOB = "refresh", "lease"
SCHEDULER_LEASE, LEASE_TTL = "scheduler", 90.0


async def keep_lease(context: CourseContext) -> bool:
    """Take or renew the scheduler lease; whether this worker runs the scheduled refresh."""
    services = context.services
    try:
        services.leader = await services.blocking(claim, services.knowledge.sessions, SCHEDULER_LEASE, LEASE_TTL)
    except SQLAlchemyError as e:
        log.warning("could not renew the scheduler lease: %s", e)
        services.leader = False
    return services.leader


async def scheduled_refresh(context: CourseContext) -> None:
    """Refresh the index; send the admins the summary when something changed or failed — and tell them when the
    refresh itself could not run (Weaviate down, the database locked, a folder gone)."""
    services = context.services
    if not await keep_lease(context):
        log.info("scheduled refresh left to the worker that holds the scheduler lease")
        return
    try:
        async with services.indexing:
            outcome = await services.blocking(materials.refresh, services.knowledge, services.settings)
    except RefreshBusy as e:  # cron is refreshing right now: that run does the work
        log.info("scheduled refresh skipped: %s", e)
        return
    except (KnowledgeError, SQLAlchemyError, OSError) as e:
        log.error("scheduled refresh failed: %s", e)
        await tell_admins(context, f"⚠️ La actualización programada del índice falló: {e}\n"
                                   "El índice quedó como estaba; se intentará de nuevo en la próxima ejecución "
                                   "(o usa /reindexar).")
        return
    if outcome.report.changed_anything or outcome.exit_code != 0:
        await tell_admins(context, outcome.summary())


async def tell_admins(context: CourseContext, text: str) -> None:
    """Send plain `text` to every current admin (split to fit); an admin who cannot be reached is skipped."""
    for admin_id in sorted(await context.services.reload_admins()):
        for block in pack(plain_blocks(text)):
            try:
                await context.bot.send_message(admin_id, block, parse_mode=ParseMode.HTML)
            except (BadRequest, Forbidden) as e:
                log.warning("could not send the refresh summary to %s: %s", admin_id, e)
                break


def schedule_refresh(application: Application) -> list[str]:
    """(Re)schedule the "refresh" job from the settings; returns what was scheduled, for the log."""
    services: Services = application.bot_data.services
    s, job_queue = services.settings, application.job_queue
    for job in job_queue.get_jobs_by_name(JOB_NAME) + job_queue.get_jobs_by_name(LEASE_JOB):
        job.schedule_removal()
    scheduled = []
    if s.refresh_interval_minutes > 0:
        job_queue.run_repeating(scheduled_refresh, interval=dt.timedelta(minutes=s.refresh_interval_minutes),
                                first=dt.timedelta(minutes=s.refresh_interval_minutes), name=JOB_NAME)
        scheduled.append(f"every {s.refresh_interval_minutes:g} min")
    if s.refresh_daily_at:
        hour, minute = (int(part) for part in s.refresh_daily_at.split(":"))
        job_queue.run_daily(scheduled_refresh, dt.time(hour, minute, tzinfo=ZoneInfo(s.timezone)), name=JOB_NAME)
        scheduled.append(f"daily at {s.refresh_daily_at} {s.timezone}")
    if scheduled:
        job_queue.run_repeating(keep_lease, interval=LEASE_TTL / 3, first=0, name=LEASE_JOB)
    return scheduled
