"""events: public segments, notice messages, attendees' replies

Revision ID: 0005_events
Revises: 0004_ingest
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_events"
down_revision = "0004_ingest"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Built-in role segments were always listed on /calendar; they stay public.
    op.execute(sa.text("UPDATE segments SET public = :yes WHERE builtin = :yes").bindparams(yes=True))
    with op.batch_alter_table("sends") as batch:
        batch.add_column(sa.Column("message", sa.Text(), nullable=True))
    op.create_table(
        "event_replies",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("client", sa.String(length=300), nullable=False),
        sa.CheckConstraint(
            "status IN ('accepted', 'tentative', 'declined')", name="ck_reply_status"
        ),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("event_id", "subscriber_id"),
    )


def downgrade() -> None:
    op.drop_table("event_replies")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("message")
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("public")
