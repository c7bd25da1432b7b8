"""inventory: row counts kept by triggers, for the `total` of unfiltered lists

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:00:00

Every list page carries `total`. Counting the table for it costs Postgres a scan of every
row on every request, growing with the table (README, bench.inventory), so an unfiltered
list reads the count from
`inventory_counts` instead. Statement-level triggers add the rows each INSERT or DELETE
changed, in the same transaction, so the count a list reads is exactly the one its snapshot
of the table has. The count is spread over 16 shard rows per resource (chosen by backend
pid), so concurrent creates rarely wait on one another's row lock. Filtered lists still
count their matches.
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

RESOURCES = ('datasets', 'packages', 'repositories', 'scenarios', 'simulators')
SHARDS = 16

FUNCTION = f"""
CREATE FUNCTION inventory_count_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM inventory_counts WHERE resource = TG_ARGV[0];
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO delta FROM new_rows;
    ELSE
        SELECT -count(*) INTO delta FROM old_rows;
    END IF;
    IF delta <> 0 THEN
        INSERT INTO inventory_counts AS c (resource, shard, n)
        VALUES (TG_ARGV[0], pg_backend_pid() % {SHARDS}, delta)
        ON CONFLICT (resource, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        'inventory_counts',
        sa.Column('resource', sa.String(length=32), nullable=False),
        sa.Column('shard', sa.SmallInteger(), nullable=False),
        sa.Column('n', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('resource', 'shard', name=op.f('pk_inventory_counts')),
    )
    op.execute(FUNCTION)
    for resource in RESOURCES:
        table = f'inventory_{resource}'
        # No writer may slip between the triggers starting to count and the backfill.
        op.execute(f'LOCK TABLE {table} IN SHARE MODE')
        op.execute(
            f'CREATE TRIGGER {table}_count_insert AFTER INSERT ON {table}'
            ' REFERENCING NEW TABLE AS new_rows'
            f" FOR EACH STATEMENT EXECUTE FUNCTION inventory_count_rows('{resource}')"
        )
        op.execute(
            f'CREATE TRIGGER {table}_count_delete AFTER DELETE ON {table}'
            ' REFERENCING OLD TABLE AS old_rows'
            f" FOR EACH STATEMENT EXECUTE FUNCTION inventory_count_rows('{resource}')"
        )
        op.execute(
            f'CREATE TRIGGER {table}_count_truncate AFTER TRUNCATE ON {table}'
            f" FOR EACH STATEMENT EXECUTE FUNCTION inventory_count_rows('{resource}')"
        )
        op.execute(
            f"INSERT INTO inventory_counts (resource, shard, n)"
            f" SELECT '{resource}', 0, count(*) FROM {table}"
        )


def downgrade() -> None:
    for resource in RESOURCES:
        table = f'inventory_{resource}'
        for event in ('insert', 'delete', 'truncate'):
            op.execute(f'DROP TRIGGER {table}_count_{event} ON {table}')
    op.execute('DROP FUNCTION inventory_count_rows()')
    op.drop_table('inventory_counts')
