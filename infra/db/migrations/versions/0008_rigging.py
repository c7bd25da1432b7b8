"""rigging: browser sessions, their uploads and results, and their jobs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:00:00

A session is stored by the SHA-256 of its id (the id is a bearer secret). Files are unique
per (session, folder, name): a second upload of a name replaces the first. `rigging_jobs`
ties a platform job to its session, with the contract's type and input paths.
"""

from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('rigging_sessions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('token_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_activity', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rigging_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_rigging_sessions_token_hash'))
    )
    op.create_table('rigging_files',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('folder', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("folder IN ('uploads', 'results')", name=op.f('ck_rigging_files_folder')),
    sa.ForeignKeyConstraint(['session_id'], ['rigging_sessions.id'], name=op.f('fk_rigging_files_session_id_rigging_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rigging_files')),
    sa.UniqueConstraint('session_id', 'folder', 'name', name='uq_rigging_files_path')
    )
    op.create_table('rigging_jobs',
    sa.Column('job_id', sa.UUID(), nullable=False),
    sa.Column('session_id', sa.UUID(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('input', sa.Text(), nullable=False),
    sa.Column('second_input', sa.Text(), nullable=True),
    sa.Column('output_format', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('skeleton', 'skinning', 'merge')", name=op.f('ck_rigging_jobs_type')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_rigging_jobs_job_id_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['rigging_sessions.id'], name=op.f('fk_rigging_jobs_session_id_rigging_sessions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', name=op.f('pk_rigging_jobs'))
    )
    op.create_index('ix_rigging_jobs_session_created', 'rigging_jobs', ['session_id', sa.text('created_at DESC')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_rigging_jobs_session_created', table_name='rigging_jobs')
    op.drop_table('rigging_jobs')
    op.drop_table('rigging_files')
    op.drop_table('rigging_sessions')
