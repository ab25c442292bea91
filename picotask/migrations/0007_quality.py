from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from picotask.models.submissions import DecidedBy
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_webhooks')]

    initial = False

    operations = [
        ops.CreateModel(
            name='GoldAccuracy',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employer', fields.ForeignKeyField('models.User', source_field='employer_id', db_constraint=True, to_field='id', related_name='gold_records_kept', on_delete=OnDelete.RESTRICT)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='gold_records', on_delete=OnDelete.RESTRICT)),
                ('answered', fields.IntField(default=0)),
                ('correct', fields.IntField(default=0)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'gold_accuracy', 'app': 'models', 'unique_together': (('employer_id', 'worker_id'),), 'pk_attr': 'id', 'table_description': "A worker's record on one employer's gold items, graded as each is submitted."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='GoldItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='gold_items', on_delete=OnDelete.RESTRICT)),
                ('item_id', fields.BigIntField(default=0)),
                ('position', fields.IntField(default=0)),
                ('expected', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'gold_items', 'app': 'models', 'unique_together': (('task_id', 'item_id'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReviewPolicy',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.OneToOneField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='review_policy', on_delete=OnDelete.RESTRICT)),
                ('auto_approve_at', fields.FloatField(null=True)),
                ('auto_reject_below', fields.FloatField(null=True)),
                ('block_below', fields.FloatField(null=True)),
                ('min_gold_answered', fields.IntField(default=3)),
                ('overlap', fields.IntField(null=True)),
                ('min_seconds', fields.IntField(null=True)),
                ('reject_too_fast', fields.BooleanField(default=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'review_policies', 'app': 'models', 'pk_attr': 'id', 'table_description': "Decisions taken at submit time instead of the employer's review (every part optional)."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Submission',
            name='answer_key',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Submission',
            name='decided_by',
            field=fields.CharEnumField(null=True, description='MANUAL: MANUAL\nREVIEW_WINDOW: REVIEW_WINDOW\nREVISION_DEADLINE: REVISION_DEADLINE\nGOLD_ACCURACY: GOLD_ACCURACY\nMAJORITY: MAJORITY\nFAST_RESPONSE: FAST_RESPONSE\nDISPUTE: DISPUTE', enum_type=DecidedBy, max_length=20),
        ),
        ops.AddField(
            model_name='Submission',
            name='gold_correct',
            field=fields.BooleanField(null=True),
        ),
        ops.AddField(
            model_name='Submission',
            name='too_fast',
            field=fields.BooleanField(default=False),
        ),
        ops.AddIndex(
            model_name='Submission',
            index=Index(fields=['task_id', 'answer_key']),
        ),
    ]
