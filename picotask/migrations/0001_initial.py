from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from picotask.models.ledger import AccountKind, DepositStatus, PayoutMethod, PayoutStatus, TransactionKind
from picotask.models.users import UserStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='LedgerTransaction',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='DEPOSIT: DEPOSIT\nESCROW_FUND: ESCROW_FUND\nESCROW_RELEASE: ESCROW_RELEASE\nESCROW_REFUND: ESCROW_REFUND\nBONUS: BONUS\nPAYOUT_HOLD: PAYOUT_HOLD\nPAYOUT_SETTLE: PAYOUT_SETTLE\nPAYOUT_FAIL: PAYOUT_FAIL', enum_type=TransactionKind, max_length=24)),
                ('memo', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ledger_transactions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('display_name', fields.CharField(max_length=60)),
                ('country', fields.CharField(max_length=2)),
                ('skills', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('avatar_url', fields.CharField(null=True, max_length=500)),
                ('bio', fields.TextField(null=True, unique=False)),
                ('is_admin', fields.BooleanField(default=False)),
                ('status', fields.CharEnumField(default=UserStatus.ACTIVE, description='ACTIVE: ACTIVE\nSUSPENDED: SUSPENDED', enum_type=UserStatus, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'users', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Account',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('kind', fields.CharEnumField(description='USER: USER\nESCROW: ESCROW\nPAYOUT: PAYOUT\nPLATFORM_FEES: PLATFORM_FEES\nEXTERNAL: EXTERNAL', enum_type=AccountKind, max_length=16)),
                ('ref', fields.CharField(unique=True, max_length=64)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', null=True, db_constraint=True, to_field='id', related_name='accounts', on_delete=OnDelete.RESTRICT)),
                ('balance', fields.BigIntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ledger_accounts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Deposit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='deposits', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
                ('status', fields.CharEnumField(default=DepositStatus.PENDING, description='PENDING: PENDING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED', enum_type=DepositStatus, max_length=16)),
                ('provider_reference', fields.CharField(null=True, max_length=100)),
                ('failure_reason', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'deposits', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='idempotency_records', on_delete=OnDelete.CASCADE)),
                ('key', fields.CharField(max_length=100)),
                ('operation', fields.CharField(max_length=40)),
                ('request_hash', fields.CharField(max_length=64)),
                ('result_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'idempotency_records', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='LedgerEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('transaction', fields.ForeignKeyField('models.LedgerTransaction', source_field='transaction_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('account', fields.ForeignKeyField('models.Account', source_field='account_id', db_constraint=True, to_field='id', related_name='entries', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
            ],
            options={'table': 'ledger_entries', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Payout',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='payouts', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.BigIntField()),
                ('method', fields.CharEnumField(description='PAYPAL: PAYPAL\nPAYONEER: PAYONEER\nCRYPTO: CRYPTO', enum_type=PayoutMethod, max_length=16)),
                ('destination', fields.CharField(max_length=200)),
                ('status', fields.CharEnumField(default=PayoutStatus.REQUESTED, description='REQUESTED: REQUESTED\nPROCESSING: PROCESSING\nPAID: PAID\nFAILED: FAILED', enum_type=PayoutStatus, max_length=16)),
                ('lease_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('provider_reference', fields.CharField(null=True, max_length=100)),
                ('failure_reason', fields.CharField(null=True, max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('completed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'payouts', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Session',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sessions', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddConstraint(model_name='Account', constraint=CheckConstraint(check="kind IN ('PLATFORM_FEES', 'EXTERNAL') OR balance >= 0", name='ledger_accounts_balance_not_negative')),
        ops.AddConstraint(model_name='IdempotencyRecord', constraint=UniqueConstraint(fields=('user_id', 'key'), name='idempotency_user_key')),
    ]
