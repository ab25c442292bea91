from tortoise import migrations
from tortoise.migrations import operations as ops
from picotask.models.events import Stream
from tortoise import fields
from tortoise.indexes import Index

# Postings made before the references existed: their task and payout are read from the accounts
# they moved money between (exact), their fee from the platform's leg or the task's price. Their
# submission and deposit stay unknown (the memo is not parsed) and none counts as a dispute's
# outcome.
BACKFILL = [
    """UPDATE ledger_transactions SET task_id = (
        SELECT CAST(SUBSTR(a.ref, 8) AS BIGINT) FROM ledger_entries e
        JOIN ledger_accounts a ON a.id = e.account_id
        WHERE e.transaction_id = ledger_transactions.id AND a.kind = 'ESCROW')
    WHERE task_id IS NULL AND kind IN ('ESCROW_FUND', 'ESCROW_RELEASE', 'ESCROW_REFUND')""",
    """UPDATE ledger_transactions SET payout_id = (
        SELECT CAST(SUBSTR(a.ref, 8) AS BIGINT) FROM ledger_entries e
        JOIN ledger_accounts a ON a.id = e.account_id
        WHERE e.transaction_id = ledger_transactions.id AND a.kind = 'PAYOUT')
    WHERE payout_id IS NULL AND kind IN ('PAYOUT_HOLD', 'PAYOUT_SETTLE', 'PAYOUT_FAIL')""",
    """UPDATE ledger_transactions SET fee = COALESCE((
        SELECT e.amount FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
        WHERE e.transaction_id = ledger_transactions.id AND a.kind = 'PLATFORM_FEES'), 0)
    WHERE kind = 'ESCROW_RELEASE'""",
    """UPDATE ledger_transactions SET fee = COALESCE((
        SELECT ABS(e.amount) / (tk.reward + tk.fee) * tk.fee FROM ledger_entries e
        JOIN ledger_accounts a ON a.id = e.account_id
        JOIN tasks tk ON tk.id = ledger_transactions.task_id
        WHERE e.transaction_id = ledger_transactions.id AND a.kind = 'ESCROW'
          AND tk.reward + tk.fee > 0), 0)
    WHERE kind IN ('ESCROW_FUND', 'ESCROW_REFUND')""",
]


class Migration(migrations.Migration):
    dependencies = [('models', '0003_uploads')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Account',
            index=Index(fields=['owner_id', 'kind']),
        ),
        ops.AlterField(
            model_name='Event',
            name='stream',
            field=fields.CharEnumField(description='FEED: FEED\nSUBMISSIONS: SUBMISSIONS\nNOTIFICATIONS: NOTIFICATIONS\nSTATEMENT: STATEMENT', enum_type=Stream, max_length=16),
        ),
        ops.AddIndex(
            model_name='LedgerEntry',
            index=Index(fields=['account_id', 'transaction_id']),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='deposit_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='dispute_outcome',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='fee',
            field=fields.BigIntField(default=0),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='payout_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='submission_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='LedgerTransaction',
            name='task_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddIndex(
            model_name='LedgerTransaction',
            index=Index(fields=['task_id', 'id']),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['employer_id', 'id']),
        ),
        ops.RunSQL(BACKFILL),
    ]
