"""robodata: a catalog version every write moves on; media made stale by a write

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 07:00:00

API processes keep list pages keyed by the version: a statement trigger on each catalog table
bumps it in the writing transaction, so a page can never be served from a version older than
the data a client was told is there, whichever code path wrote it.

Media is cached under (item id, fingerprint): triggers on the items note every pair that a
delete or a changed fingerprint leaves behind, and the indexing pool deletes their files.
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
    op.create_table('robodata_stale_media',
    sa.Column('item_id', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('item_id', 'fingerprint'),
    )
    op.execute("""
        CREATE FUNCTION robodata_items_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO robodata_stale_media (item_id, fingerprint)
            SELECT id, fingerprint FROM gone ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$
    """)
    # Per row, and only for a row whose fingerprint changed (the WHEN test costs no function
    # call): a re-index rewrites every row, and a statement trigger joining its transition
    # tables cost ~0.2 ms a row.
    op.execute("""
        CREATE FUNCTION robodata_items_refingerprinted() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO robodata_stale_media (item_id, fingerprint)
            VALUES (OLD.id, OLD.fingerprint) ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER robodata_items_deleted AFTER DELETE ON robodata_items
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION robodata_items_deleted()
    """)
    op.execute("""
        CREATE TRIGGER robodata_items_refingerprinted AFTER UPDATE OF fingerprint ON robodata_items
        FOR EACH ROW WHEN (OLD.fingerprint IS DISTINCT FROM NEW.fingerprint)
        EXECUTE FUNCTION robodata_items_refingerprinted()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER robodata_items_refingerprinted ON robodata_items")
    op.execute("DROP TRIGGER robodata_items_deleted ON robodata_items")
    op.execute("DROP FUNCTION robodata_items_refingerprinted()")
    op.execute("DROP FUNCTION robodata_items_deleted()")
    op.drop_table('robodata_stale_media')
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_changed ON {table}")
    op.execute("DROP FUNCTION robodata_catalog_changed()")
    op.drop_table('robodata_catalog')
