"""pending enrolments: re-enrolments that did not verify against the current template, awaiting a second key

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pending_enrolments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=False),
    sa.Column('subject_id', sa.String(length=36), nullable=False),
    sa.Column('reference_ids', sa.JSON(), nullable=False),
    sa.Column('requested_by', sa.String(length=80), nullable=False),
    sa.Column('requester_key', sa.String(length=36), nullable=True),
    sa.Column('replaces', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.String(length=80), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('enrolment_id', sa.String(length=36), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pending_enrolments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pending_enrolments_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pending_enrolments_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('pending_enrolments')
