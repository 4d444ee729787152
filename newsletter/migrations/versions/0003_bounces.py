"""bounce events and messages set aside

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bounce_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("diagnostic", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('hard', 'soft', 'complaint', 'ignored')", name="ck_bounce_kind"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_key"),
    )
    op.create_index(
        "ix_bounce_events_email_kind_created",
        "bounce_events",
        ["email_key", "kind", "created_at"],
    )
    op.create_index("ix_bounce_events_delivery_id", "bounce_events", ["delivery_id"])
    op.create_index("ix_bounce_events_send_id", "bounce_events", ["send_id"])
    op.create_table(
        "bounce_set_aside",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("digest"),
    )


def downgrade() -> None:
    op.drop_table("bounce_set_aside")
    op.drop_index("ix_bounce_events_send_id", table_name="bounce_events")
    op.drop_index("ix_bounce_events_delivery_id", table_name="bounce_events")
    op.drop_index("ix_bounce_events_email_kind_created", table_name="bounce_events")
    op.drop_table("bounce_events")
