"""processing steps, obstructions, alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:07:10.246879
"""
from alembic import op
import sqlalchemy as sa




revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('clip_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_clip_id'), ['clip_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_created_at'), ['created_at'], unique=False)

    op.create_table('obstructed_intervals',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clip_id', sa.String(length=36), nullable=False),
    sa.Column('start_seconds', sa.Float(), nullable=False),
    sa.Column('end_seconds', sa.Float(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.CheckConstraint('end_seconds >= start_seconds', name='ck_obstructed_intervals_order'),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('obstructed_intervals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_obstructed_intervals_clip_id'), ['clip_id'], unique=False)

    op.create_table('processing_steps',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('clip_id', sa.String(length=36), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('profile', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Float(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), nullable=False),
    sa.Column('queue', sa.String(length=32), nullable=True),
    sa.Column('job_id', sa.String(length=128), nullable=True),
    sa.Column('worker', sa.String(length=128), nullable=True),
    sa.Column('command', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'queued', 'running', 'retrying', 'done', 'skipped', 'failed')", name='ck_processing_steps_status'),
    sa.ForeignKeyConstraint(['clip_id'], ['clips.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('clip_id', 'step', 'profile', name='uq_processing_steps_clip_step_profile')
    )
    with op.batch_alter_table('processing_steps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processing_steps_clip_id'), ['clip_id'], unique=False)
        batch_op.create_index('ix_processing_steps_status', ['status'], unique=False)

    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.add_column(sa.Column('media', sa.JSON(), server_default='{}', nullable=False))
        batch_op.add_column(sa.Column('duration_seconds', sa.Float(), nullable=True))

    with op.batch_alter_table('derivatives', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sm3', sa.String(length=64), server_default='', nullable=False))
        batch_op.add_column(sa.Column('content_type', sa.String(length=64), server_default='application/octet-stream', nullable=False))
        batch_op.add_column(sa.Column('checks', sa.JSON(), server_default='{}', nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('derivatives', schema=None) as batch_op:
        batch_op.drop_column('checks')
        batch_op.drop_column('content_type')
        batch_op.drop_column('sm3')

    with op.batch_alter_table('clips', schema=None) as batch_op:
        batch_op.drop_column('duration_seconds')
        batch_op.drop_column('media')

    with op.batch_alter_table('processing_steps', schema=None) as batch_op:
        batch_op.drop_index('ix_processing_steps_status')
        batch_op.drop_index(batch_op.f('ix_processing_steps_clip_id'))

    op.drop_table('processing_steps')
    with op.batch_alter_table('obstructed_intervals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_obstructed_intervals_clip_id'))

    op.drop_table('obstructed_intervals')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_created_at'))
        batch_op.drop_index(batch_op.f('ix_alerts_clip_id'))

    op.drop_table('alerts')
