"""jobs: extra topics a job's events go to (a session), beside job:<id> and user:<owner>

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 01:10:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: Postgres adds the column without rewriting the table.
    op.add_column(
        'jobs',
        sa.Column(
            'topics', postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_column('jobs', 'topics')
