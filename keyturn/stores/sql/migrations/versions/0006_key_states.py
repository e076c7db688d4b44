"""Signing-key states for rollover across replicas: when a published key
starts signing, and when a compromised key was revoked.

Revision ID: 0006_key_states
Revises: 0005_credentials
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_key_states"
down_revision = "0005_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kt_signing_keys") as batch:
        batch.add_column(sa.Column("activates_at", sa.Double))
        batch.add_column(sa.Column("revoked_at", sa.Double))


def downgrade() -> None:
    with op.batch_alter_table("kt_signing_keys") as batch:
        batch.drop_column("revoked_at")
        batch.drop_column("activates_at")
