"""session versions, disabled organisers, API token expiry and revocation, import jobs

Revision ID: 0006_security
Revises: 0005_events
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_security"
down_revision = "0005_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "organisers",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default="1"),
    )
    op.add_column("organisers", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column(
        "api_tokens",
        sa.Column("name", sa.String(length=100), nullable=False, server_default=""),
    )
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_tokens", sa.Column("revoked_at", sa.DateTime(timezone=True)))
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=300), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("done_rows", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'finished', 'failed')", name="ck_import_status"
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("import_jobs")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("expires_at")
        batch.drop_column("name")
    with op.batch_alter_table("organisers") as batch:
        batch.drop_column("disabled_at")
        batch.drop_column("session_version")
