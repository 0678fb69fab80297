"""The bot's tables: users and roles, questions and answers, feedback, escalations to staff.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_users",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),  # Telegram user id
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("username", sa.String(100)),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "bot_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("chat_id", sa.BigInteger, nullable=False),
        sa.Column("question_message_id", sa.Integer, nullable=False),
        sa.Column("answer_message_id", sa.Integer),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.JSON, nullable=False),
        sa.Column("abstained", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bot_messages_user_id", "bot_messages", ["user_id"])
    op.create_table(
        "bot_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("bot_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("answer_id", "user_id"),
    )
    op.create_index("ix_bot_feedback_answer_id", "bot_feedback", ["answer_id"])
    op.create_table(
        "bot_escalations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("bot_messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("student_id", sa.BigInteger, nullable=False),
        sa.Column("student_chat_id", sa.BigInteger, nullable=False),
        sa.Column("student_message_id", sa.Integer, nullable=False),
        sa.Column("staff_chat_id", sa.BigInteger, nullable=False),
        sa.Column("staff_message_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("staff_chat_id", "staff_message_id"),
    )
    op.create_index("ix_bot_escalations_answer_id", "bot_escalations", ["answer_id"])


def downgrade() -> None:
    for table in ("bot_escalations", "bot_feedback", "bot_messages", "bot_users"):
        op.drop_table(table)
