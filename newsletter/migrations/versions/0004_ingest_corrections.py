"""update period ranges, made-up event titles, organiser corrections

Revision ID: 0004_ingest
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_ingest"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("updates") as batch:
        batch.add_column(sa.Column("period_end", sa.String(length=7), nullable=True))
        batch.add_column(sa.Column("period_label", sa.String(length=100), nullable=True))
    # Updates stored before ranges were read cover their one month.
    op.execute("UPDATE updates SET period_end = period WHERE period IS NOT NULL")
    with op.batch_alter_table("events") as batch:
        batch.add_column(
            sa.Column("needs_title", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "update_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("update_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["update_id"], ["updates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_update_corrections_update_id", "update_corrections", ["update_id"])


def downgrade() -> None:
    op.drop_index("ix_update_corrections_update_id", table_name="update_corrections")
    op.drop_table("update_corrections")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("needs_title")
    with op.batch_alter_table("updates") as batch:
        batch.drop_column("period_label")
        batch.drop_column("period_end")
