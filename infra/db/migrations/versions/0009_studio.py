"""studio: sessions, their assets and cost lines

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 04:00:00

A session is owned by a user (deleted with them); assets and costs are deleted with their
session. Asset keys are unique per session and cost lines per (job, line), so a step's job
that runs twice records nothing twice.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('studio_sessions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('prompt', sa.Text(), nullable=False),
    sa.Column('aspect_ratio', sa.String(length=8), nullable=False),
    sa.Column('video_prompt', sa.Text(), nullable=True),
    sa.Column('final_key', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'generating_images', 'reviewing_images', 'images_approved', 'generating_clips', 'reviewing_clips', 'clips_approved', 'composing', 'completed', 'failed')", name=op.f('ck_studio_sessions_status')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_studio_sessions_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studio_sessions'))
    )
    op.create_index('ix_studio_sessions_owner_created', 'studio_sessions', ['owner_id', 'created_at'], unique=False)
    op.create_table('studio_assets',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('approved', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('order_index', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('image', 'video', 'clip', 'final_video')", name=op.f('ck_studio_assets_type')),
    sa.ForeignKeyConstraint(['session_id'], ['studio_sessions.id'], name=op.f('fk_studio_assets_session_id_studio_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studio_assets')),
    sa.UniqueConstraint('session_id', 'key', name='uq_studio_assets_session_key')
    )
    op.create_table('studio_costs',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('tokens_used', sa.Integer(), nullable=True),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['session_id'], ['studio_sessions.id'], name=op.f('fk_studio_costs_session_id_studio_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_studio_costs')),
    sa.UniqueConstraint('job_id', 'line', name='uq_studio_costs_job_line')
    )


def downgrade() -> None:
    op.drop_table('studio_costs')
    op.drop_table('studio_assets')
    op.drop_index('ix_studio_sessions_owner_created', table_name='studio_sessions')
    op.drop_table('studio_sessions')
