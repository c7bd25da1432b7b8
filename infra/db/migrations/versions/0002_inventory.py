"""inventory: repositories, datasets, packages, scenarios, simulators

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:37:32.426163

Five tables, one per resource of the RoboHub inventory contract. Names are unique per
table (the constraint decides concurrent creates); `type` / `language` / `format` are
checked against the contract's enumerations; indexes serve the list filters and sorts.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inventory_datasets',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=True),
    sa.Column('location', sa.String(length=2048), nullable=True),
    sa.Column('format', sa.String(length=32), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("format IN ('rosbag', 'hdf5', 'json', 'csv', 'parquet', 'bag')", name=op.f('ck_inventory_datasets_format')),
    sa.CheckConstraint("type IN ('sensor', 'image', 'lidar', 'training', 'validation', 'test')", name=op.f('ck_inventory_datasets_type')),
    sa.CheckConstraint('size >= 0', name=op.f('ck_inventory_datasets_size')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_inventory_datasets_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_datasets')),
    sa.UniqueConstraint('name', name=op.f('uq_inventory_datasets_name'))
    )
    op.create_index('ix_inventory_datasets_created_at_id', 'inventory_datasets', ['created_at', 'id'], unique=False)
    op.create_index('ix_inventory_datasets_tags', 'inventory_datasets', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_inventory_datasets_type_id', 'inventory_datasets', ['type', 'id'], unique=False)
    op.create_index('ix_inventory_datasets_updated_at_id', 'inventory_datasets', ['updated_at', 'id'], unique=False)
    op.create_table('inventory_packages',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('repository', sa.String(length=2048), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('ros', 'ros2', 'python', 'cpp', 'docker', 'apt')", name=op.f('ck_inventory_packages_type')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_inventory_packages_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_packages')),
    sa.UniqueConstraint('name', name=op.f('uq_inventory_packages_name'))
    )
    op.create_index('ix_inventory_packages_created_at_id', 'inventory_packages', ['created_at', 'id'], unique=False)
    op.create_index('ix_inventory_packages_tags', 'inventory_packages', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_inventory_packages_type_id', 'inventory_packages', ['type', 'id'], unique=False)
    op.create_index('ix_inventory_packages_updated_at_id', 'inventory_packages', ['updated_at', 'id'], unique=False)
    op.create_table('inventory_repositories',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('language', sa.String(length=32), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("language IN ('Go', 'Python', 'C++', 'JavaScript', 'TypeScript', 'Rust', 'Java')", name=op.f('ck_inventory_repositories_language')),
    sa.CheckConstraint("type IN ('git', 'svn', 'mercurial')", name=op.f('ck_inventory_repositories_type')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_inventory_repositories_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_repositories')),
    sa.UniqueConstraint('name', name=op.f('uq_inventory_repositories_name'))
    )
    op.create_index('ix_inventory_repositories_created_at_id', 'inventory_repositories', ['created_at', 'id'], unique=False)
    op.create_index('ix_inventory_repositories_tags', 'inventory_repositories', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_inventory_repositories_type_id', 'inventory_repositories', ['type', 'id'], unique=False)
    op.create_index('ix_inventory_repositories_updated_at_id', 'inventory_repositories', ['updated_at', 'id'], unique=False)
    op.create_table('inventory_scenarios',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('config', sa.Text(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('simulation', 'real_world', 'hybrid', 'unit_test', 'integration_test')", name=op.f('ck_inventory_scenarios_type')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_inventory_scenarios_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_scenarios')),
    sa.UniqueConstraint('name', name=op.f('uq_inventory_scenarios_name'))
    )
    op.create_index('ix_inventory_scenarios_created_at_id', 'inventory_scenarios', ['created_at', 'id'], unique=False)
    op.create_index('ix_inventory_scenarios_tags', 'inventory_scenarios', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_inventory_scenarios_type_id', 'inventory_scenarios', ['type', 'id'], unique=False)
    op.create_index('ix_inventory_scenarios_updated_at_id', 'inventory_scenarios', ['updated_at', 'id'], unique=False)
    op.create_table('inventory_simulators',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('version', sa.String(length=64), nullable=True),
    sa.Column('config', sa.Text(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('owner_id', sa.UUID(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('gazebo', 'unity', 'unreal', 'webots', 'carla', 'custom')", name=op.f('ck_inventory_simulators_type')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_inventory_simulators_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inventory_simulators')),
    sa.UniqueConstraint('name', name=op.f('uq_inventory_simulators_name'))
    )
    op.create_index('ix_inventory_simulators_created_at_id', 'inventory_simulators', ['created_at', 'id'], unique=False)
    op.create_index('ix_inventory_simulators_tags', 'inventory_simulators', ['tags'], unique=False, postgresql_using='gin')
    op.create_index('ix_inventory_simulators_type_id', 'inventory_simulators', ['type', 'id'], unique=False)
    op.create_index('ix_inventory_simulators_updated_at_id', 'inventory_simulators', ['updated_at', 'id'], unique=False)


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints with it.
    for resource in ('simulators', 'scenarios', 'repositories', 'packages', 'datasets'):
        op.drop_table(f'inventory_{resource}')
