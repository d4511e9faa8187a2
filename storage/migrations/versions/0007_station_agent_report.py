"""The station agent's latest status report (its local backlog) on each station

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 23:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_report', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('agent_reported_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('agent_reported_at')
        batch_op.drop_column('agent_report')
