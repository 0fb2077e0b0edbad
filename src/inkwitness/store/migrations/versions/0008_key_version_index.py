"""key version indexes: storage-key rotation finds the rows sealed under an old key, and /healthz the versions in use

Revision ID: 0008
Revises: 0007
"""
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_signatures_key_version', 'signatures', ['key_version'], unique=False)
    op.create_index('ix_finger_enrolments_key_version', 'finger_enrolments', ['key_version'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_finger_enrolments_key_version', table_name='finger_enrolments')
    op.drop_index('ix_signatures_key_version', table_name='signatures')
