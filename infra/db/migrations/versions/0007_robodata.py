"""robodata: robots, task types, datasets, items (one per episode) and index tasks

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:41:20.399671

Items are keyed by (dataset, episode index) so a re-index keeps their ids; the lists filter
and page on indexes ending in `id`; episode counts live on robots, task types and datasets.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('robodata_robots',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('type_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('episode_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robodata_robots')),
    sa.UniqueConstraint('name', name=op.f('uq_robodata_robots_name'))
    )
    op.create_table('robodata_task_types',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('robot_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('display_name', sa.String(length=200), server_default='', nullable=False),
    sa.Column('episode_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['robot_id'], ['robodata_robots.id'], name=op.f('fk_robodata_task_types_robot_id_robodata_robots'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robodata_task_types')),
    sa.UniqueConstraint('robot_id', 'name', name='uq_robodata_task_types_robot_name')
    )
    op.create_table('robodata_datasets',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('robot_id', sa.BigInteger(), nullable=False),
    sa.Column('task_type_id', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('fps', sa.Float(), nullable=False),
    sa.Column('episode_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('indexed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_robodata_datasets_owner_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['robot_id'], ['robodata_robots.id'], name=op.f('fk_robodata_datasets_robot_id_robodata_robots')),
    sa.ForeignKeyConstraint(['task_type_id'], ['robodata_task_types.id'], name=op.f('fk_robodata_datasets_task_type_id_robodata_task_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robodata_datasets')),
    sa.UniqueConstraint('path', name=op.f('uq_robodata_datasets_path'))
    )
    op.create_index('ix_robodata_datasets_robot_type', 'robodata_datasets', ['robot_id', 'task_type_id'], unique=False)
    op.create_table('robodata_index_tasks',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('job_id', sa.UUID(), nullable=True),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('total_episodes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('processed_episodes', sa.Integer(), server_default='0', nullable=False),
    sa.Column('current_path', sa.Text(), server_default='', nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_robodata_index_tasks_job_id_jobs'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_robodata_index_tasks_owner_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robodata_index_tasks'))
    )
    op.create_table('robodata_items',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('dataset_id', sa.BigInteger(), nullable=False),
    sa.Column('episode_index', sa.Integer(), nullable=False),
    sa.Column('robot_id', sa.BigInteger(), nullable=False),
    sa.Column('task_type_id', sa.BigInteger(), nullable=False),
    sa.Column('total_frames', sa.Integer(), nullable=False),
    sa.Column('fps', sa.Float(), nullable=False),
    sa.Column('duration', sa.Float(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('image_count', sa.Integer(), nullable=False),
    sa.Column('total_size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('file_path', sa.Text(), nullable=False),
    sa.Column('cameras', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('episode', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('camera_count', sa.Integer(), server_default='0', nullable=False),
    sa.Column('primary_camera', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['robodata_datasets.id'], name=op.f('fk_robodata_items_dataset_id_robodata_datasets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robodata_items')),
    sa.UniqueConstraint('dataset_id', 'episode_index', name='uq_robodata_items_dataset_episode')
    )
    op.create_index('ix_robodata_items_dataset_id', 'robodata_items', ['dataset_id', 'id'], unique=False)
    op.create_index('ix_robodata_items_robot_id', 'robodata_items', ['robot_id', 'id'], unique=False)
    op.create_index('ix_robodata_items_task_type_id', 'robodata_items', ['task_type_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_robodata_items_task_type_id', table_name='robodata_items')
    op.drop_index('ix_robodata_items_robot_id', table_name='robodata_items')
    op.drop_index('ix_robodata_items_dataset_id', table_name='robodata_items')
    op.drop_table('robodata_items')
    op.drop_table('robodata_index_tasks')
    op.drop_index('ix_robodata_datasets_robot_type', table_name='robodata_datasets')
    op.drop_table('robodata_datasets')
    op.drop_table('robodata_task_types')
    op.drop_table('robodata_robots')
