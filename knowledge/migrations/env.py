"""Alembic's environment: run the migrations on the connection `knowledge.database.upgrade` hands over, or, from
the alembic command line (writing a migration), on DATABASE_URL with the models named in alembic.ini."""

import importlib
import os

from alembic import context

from knowledge.registry import Base


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    for module in (config.get_main_option("model_modules") or "").split():
        importlib.import_module(module)  # registers its tables on Base.metadata (for --autogenerate)
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    from knowledge.database import make_engine

    with make_engine(os.environ["DATABASE_URL"]).connect() as conn:
        run(conn)


if hasattr(context, "config"):  # inside an alembic run; a plain import (the architecture test's) runs nothing
    main()
