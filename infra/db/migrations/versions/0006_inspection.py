"""inspection: the mm_per_px lock of each recipe and each model's current artifacts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:00:00

`inspection_recipes` holds the first mm_per_px seen per recipe (its primary key decides
concurrent first requests). `inspection_models` points each (recipe, model key) at the blob
keys of its current memory bank and calibration; the keys carry their version.
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inspection_recipes',
    sa.Column('recipe_id', sa.String(length=64), nullable=False),
    sa.Column('mm_per_px', sa.Float(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('recipe_id', name=op.f('pk_inspection_recipes'))
    )
    op.create_table('inspection_models',
    sa.Column('recipe_id', sa.String(length=64), nullable=False),
    sa.Column('model_key', sa.String(length=80), nullable=False),
    sa.Column('role_id', sa.Text(), nullable=False),
    sa.Column('roi_id', sa.Text(), nullable=False),
    sa.Column('memory_key', sa.Text(), nullable=True),
    sa.Column('memory_meta', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('calib_key', sa.Text(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('recipe_id', 'model_key', name=op.f('pk_inspection_models'))
    )


def downgrade() -> None:
    op.drop_table('inspection_models')
    op.drop_table('inspection_recipes')
