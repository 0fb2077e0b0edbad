"""finger enrolments: encrypted minutiae templates of a subject's finger, with the separate consent

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('finger_enrolments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('finger', sa.Integer(), nullable=False),
    sa.Column('templates_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('templates_sha256', sa.String(length=64), nullable=False),
    sa.Column('key_version', sa.String(length=64), nullable=False),
    sa.Column('impressions', sa.Integer(), nullable=False),
    sa.Column('consent', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('finger_enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finger_enrolments_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_finger_enrolments_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('finger_enrolments')
