"""binding nonces: server nonces issued for the capture binding of one document's signing (hash, expiry, single use)

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('binding_nonces',
    sa.Column('nonce_sha256', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=36), nullable=True),
    sa.Column('document_sha256', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('log_index', sa.Integer(), nullable=True),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce_sha256')
    )
    with op.batch_alter_table('binding_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_binding_nonces_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('binding_nonces')
