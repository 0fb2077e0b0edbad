"""encrypted replay fingerprint per stored signature; index for the replay check

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows stored before this revision have none and are screened the slow way.
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replay_fingerprint', sa.LargeBinary(), nullable=True))
        batch_op.create_index('ix_signatures_replay', ['subject_id', 'created', 'duration_ms'], unique=False)
        # A prefix of the new index: every insert would maintain it for nothing.
        batch_op.drop_index('ix_signatures_subject_created')


def downgrade() -> None:
    with op.batch_alter_table('signatures', schema=None) as batch_op:
        batch_op.create_index('ix_signatures_subject_created', ['subject_id', 'created'], unique=False)
        batch_op.drop_index('ix_signatures_replay')
        batch_op.drop_column('replay_fingerprint')
