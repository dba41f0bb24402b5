"""outbox channel holder: one worker sends on a throttled channel at a time

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_rate') as batch:
        batch.add_column(sa.Column('holder', sa.String(length=100), nullable=True))
        batch.add_column(sa.Column('held_until', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_rate') as batch:
        batch.drop_column('held_until')
        batch.drop_column('holder')
