"""subscriber status history, segment labels, deliveries that outlive an erased subscriber

Revision ID: 0007_organiser
Revises: 0006_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_organiser"
down_revision = "0006_security"
branch_labels = None
depends_on = None

# The foreign key of deliveries.subscriber_id was created without a name:
# PostgreSQL named it by its convention, SQLite batch mode needs one to drop it.
PG_FK = "deliveries_subscriber_id_fkey"
SQLITE_FK = "fk_deliveries_subscriber_id_subscribers"
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    op.create_table(
        "subscriber_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("consent_source", sa.String(length=200), nullable=True),
        sa.Column("consent_ip", sa.String(length=64), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscriber_status_changes_subscriber_id",
        "subscriber_status_changes",
        ["subscriber_id"],
    )
    op.create_index(
        "ix_subscriber_status_changes_send_id", "subscriber_status_changes", ["send_id"]
    )
    # What is known of the past: each subscriber's current status, with its consent.
    op.execute(
        "INSERT INTO subscriber_status_changes"
        " (subscriber_id, at, status, previous, source, consent_source, consent_ip, send_id)"
        " SELECT id, status_changed_at, status, NULL, 'before history was kept',"
        " consent_source, consent_ip, NULL FROM subscribers"
    )
    with op.batch_alter_table("segments") as batch_op:
        batch_op.add_column(
            sa.Column("label", sa.String(length=200), nullable=False, server_default="")
        )
    # A custom segment's short description was what organisers meant as its name.
    op.execute(
        "UPDATE segments SET label = description WHERE builtin = false"
        " AND length(description) BETWEEN 1 AND 60"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(PG_FK, "deliveries", type_="foreignkey")
        op.alter_column("deliveries", "subscriber_id", nullable=True)
        op.create_foreign_key(
            PG_FK, "deliveries", "subscribers", ["subscriber_id"], ["id"], ondelete="SET NULL"
        )
    else:
        with op.batch_alter_table("deliveries", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(SQLITE_FK, type_="foreignkey")
            batch_op.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=True)
            batch_op.create_foreign_key(
                SQLITE_FK, "subscribers", ["subscriber_id"], ["id"], ondelete="SET NULL"
            )


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE subscriber_id IS NULL")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(PG_FK, "deliveries", type_="foreignkey")
        op.alter_column("deliveries", "subscriber_id", nullable=False)
        op.create_foreign_key(
            PG_FK, "deliveries", "subscribers", ["subscriber_id"], ["id"], ondelete="CASCADE"
        )
    else:
        with op.batch_alter_table("deliveries", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(SQLITE_FK, type_="foreignkey")
            batch_op.alter_column("subscriber_id", existing_type=sa.Integer(), nullable=False)
            batch_op.create_foreign_key(
                SQLITE_FK, "subscribers", ["subscriber_id"], ["id"], ondelete="CASCADE"
            )
    with op.batch_alter_table("segments") as batch_op:
        batch_op.drop_column("label")
    op.drop_index("ix_subscriber_status_changes_send_id", "subscriber_status_changes")
    op.drop_index("ix_subscriber_status_changes_subscriber_id", "subscriber_status_changes")
    op.drop_table("subscriber_status_changes")
