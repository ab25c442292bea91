from tortoise import migrations
from tortoise.migrations import operations as ops
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_ledger_references')]

    initial = False

    operations = [
        ops.CreateModel(
            name='TaskItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='items', on_delete=OnDelete.RESTRICT)),
                ('position', fields.IntField()),
                ('data', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ('submission', fields.ForeignKeyField('models.Submission', source_field='submission_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'task_items', 'app': 'models', 'unique_together': (('task_id', 'position'),), 'indexes': [Index(fields=['task_id', 'submission_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Submission',
            name='item_id',
            field=fields.BigIntField(null=True),
        ),
        ops.AddField(
            model_name='Task',
            name='batch_columns',
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
