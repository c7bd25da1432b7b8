"""users: a stable integer number beside the UUID, and an optional email unique in any case

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:00:00

Contracts show integer user ids, and one logs in by email. Existing users are numbered in
the order they were created, then the identity continues after the highest number, so the
numbers already handed out never change.
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN holds an exclusive lock on users to the end of the migration's transaction,
    # so no user can be created between the backfill and the identity taking over.
    op.add_column('users', sa.Column('number', sa.BigInteger(), nullable=True))
    op.execute(
        'UPDATE users SET number = ordered.n FROM ('
        ' SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM users'
        ') AS ordered WHERE users.id = ordered.id'
    )
    op.alter_column('users', 'number', nullable=False)
    op.execute('ALTER TABLE users ALTER COLUMN number ADD GENERATED ALWAYS AS IDENTITY')
    op.execute(
        "SELECT setval(pg_get_serial_sequence('users', 'number'),"
        ' COALESCE(max(number), 0) + 1, false) FROM users'
    )
    op.create_unique_constraint(op.f('uq_users_number'), 'users', ['number'])
    op.add_column('users', sa.Column('email', sa.String(length=320), nullable=True))
    op.create_index(
        'uq_users_email_lower', 'users', [sa.text('lower(email)')], unique=True
    )


def downgrade() -> None:
    op.drop_index('uq_users_email_lower', table_name='users')
    op.drop_column('users', 'email')
    op.drop_constraint(op.f('uq_users_number'), 'users', type_='unique')
    op.drop_column('users', 'number')
