"""uploads and outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:47:56.238079
"""
from alembic import op
import sqlalchemy as sa



revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_enqueued_at'), ['enqueued_at'], unique=False)

    op.create_table('uploads',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('station_id', sa.String(length=36), nullable=False),
    sa.Column('length', sa.BigInteger(), nullable=False),
    sa.Column('upload_offset', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('device_serial', sa.String(length=64), nullable=False),
    sa.Column('officer_id', sa.String(length=64), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('declared_sha256', sa.String(length=64), nullable=False),
    sa.Column('extra_metadata', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lock_owner', sa.String(length=64), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clip_id', sa.String(length=36), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('receiving', 'completed', 'rejected', 'terminated', 'expired')", name='ck_uploads_status'),
    sa.CheckConstraint('upload_offset >= 0 AND upload_offset <= length', name='ck_uploads_offset'),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_station_id'), ['station_id'], unique=False)
        batch_op.create_index('ix_uploads_status_expires', ['status', 'expires_at'], unique=False)

    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_serial', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('flags', sa.JSON(), nullable=False, server_default='{}'))

    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_custody_events_prev_hash', ['prev_hash'])



def downgrade() -> None:
    with op.batch_alter_table('custody_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_custody_events_prev_hash', type_='unique')

    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('flags')
        batch_op.drop_column('device_serial')

    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index('ix_uploads_status_expires')
        batch_op.drop_index(batch_op.f('ix_uploads_station_id'))

    op.drop_table('uploads')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_enqueued_at'))

    op.drop_table('outbox')
