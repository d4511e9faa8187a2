"""Uploads staged as segments with a fencing generation and a saved hash state

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 21:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lock_generation', sa.BigInteger(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('segments', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('hash_state', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_column('hash_state')
        batch_op.drop_column('segments')
        batch_op.drop_column('lock_generation')
