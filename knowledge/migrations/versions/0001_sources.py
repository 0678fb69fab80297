"""The source registry as the first release created it.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("collection", sa.String(100), nullable=False),
        sa.Column("doc_id", sa.String(1000), nullable=False),
        sa.Column("root", sa.String(2000), nullable=False),
        sa.Column("kind", sa.String(20)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("chunk_count", sa.Integer, nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True)),
        sa.Column("error", sa.Text),
        sa.Column("error_sha", sa.String(64)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("collection", "doc_id"),
    )
    op.create_index("ix_sources_collection", "sources", ["collection"])


def downgrade() -> None:
    op.drop_table("sources")
