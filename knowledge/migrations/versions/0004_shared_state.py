"""State several bot workers share: leases (the index lock, the scheduler), the questions each student asked
(rate-limit windows) and the turns of each conversation (follow-up memory).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "bot_asked",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sender", sa.BigInteger, nullable=False),  # the user, or the chat an anonymous sender posts as
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("ix_bot_asked_sender", "bot_asked", ["sender"])
    op.create_table(
        "bot_turns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
    )
    op.create_index("ix_bot_turns_chat_id_user_id", "bot_turns", ["chat_id", "user_id"])


def downgrade() -> None:
    for table in ("bot_turns", "bot_asked", "leases"):
        op.drop_table(table)
