"""robodata: a catalog version that every write to the catalog's tables moves on

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00

API processes keep rendered list pages keyed by this version: a statement trigger on each
catalog table bumps it in the writing transaction, so a page can never be served from a
version older than the data a client was told is there, whichever code path wrote it.
"""

from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ("robodata_robots", "robodata_task_types", "robodata_datasets", "robodata_items")


def upgrade() -> None:
    op.create_table('robodata_catalog',
    sa.Column('id', sa.SmallInteger(), nullable=False),
    sa.Column('version', sa.BigInteger(), server_default='0', nullable=False),
    sa.CheckConstraint('id = 1', name='ck_robodata_catalog_one_row'),
    sa.PrimaryKeyConstraint('id'),
    )
    op.execute("""
        CREATE FUNCTION robodata_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO robodata_catalog (id, version) VALUES (1, 1)
            ON CONFLICT (id) DO UPDATE SET version = robodata_catalog.version + 1;
            RETURN NULL;
        END $$
    """)
    for table in TABLES:
        op.execute(f"""
            CREATE TRIGGER {table}_changed
            AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION robodata_catalog_changed()
        """)


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION robodata_catalog_changed()")
    op.drop_table('robodata_catalog')
