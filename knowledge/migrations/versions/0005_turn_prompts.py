"""The prompt each remembered answer was written for, so a follow-up continues it word for word (and reuses the
KV state that answer left: knowledge/answer/states.py). Turns remembered before have none: their follow-up
sends the question and answer alone, as before.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bot_turns") as batch:
        batch.add_column(sa.Column("prompt", sa.Text, nullable=True))  # JSON: the messages after the system prompt


def downgrade() -> None:
    with op.batch_alter_table("bot_turns") as batch:
        batch.drop_column("prompt")
