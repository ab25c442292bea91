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
            name='HireGroup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employer', fields.ForeignKeyField('models.User', source_field='employer_id', db_constraint=True, to_field='id', related_name='hire_groups', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=80)),
                ('description', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hire_groups', 'app': 'models', 'unique_together': (('employer_id', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='HireGroupMember',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.HireGroup', source_field='group_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.CASCADE)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.RESTRICT)),
                ('added_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'hire_group_members', 'app': 'models', 'unique_together': (('group_id', 'worker_id'),), 'indexes': [Index(fields=['worker_id', 'group_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Qualification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('employer', fields.ForeignKeyField('models.User', source_field='employer_id', db_constraint=True, to_field='id', related_name='qualifications', on_delete=OnDelete.RESTRICT)),
                ('name', fields.CharField(max_length=80)),
                ('description', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'qualifications', 'app': 'models', 'unique_together': (('employer_id', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QualificationGrant',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('qualification', fields.ForeignKeyField('models.Qualification', source_field='qualification_id', db_constraint=True, to_field='id', related_name='grants', on_delete=OnDelete.CASCADE)),
                ('worker', fields.ForeignKeyField('models.User', source_field='worker_id', db_constraint=True, to_field='id', related_name='qualification_grants', on_delete=OnDelete.RESTRICT)),
                ('score', fields.SmallIntField()),
                ('granted_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'qualification_grants', 'app': 'models', 'unique_together': (('qualification_id', 'worker_id'),), 'indexes': [Index(fields=['worker_id', 'qualification_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='QualificationTest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.OneToOneField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='qualification_test', on_delete=OnDelete.RESTRICT)),
                ('qualification', fields.ForeignKeyField('models.Qualification', source_field='qualification_id', db_constraint=True, to_field='id', related_name='tests', on_delete=OnDelete.RESTRICT)),
                ('expected', fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={'table': 'qualification_tests', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TaskHireGroup',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='hire_groups', on_delete=OnDelete.RESTRICT)),
                ('group', fields.ForeignKeyField('models.HireGroup', source_field='group_id', db_constraint=True, to_field='id', related_name='tasks', on_delete=OnDelete.RESTRICT)),
            ],
            options={'table': 'task_hire_groups', 'app': 'models', 'unique_together': (('task_id', 'group_id'),), 'indexes': [Index(fields=['group_id', 'task_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
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
        ops.CreateModel(
            name='TaskQualification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', db_constraint=True, to_field='id', related_name='requirements', on_delete=OnDelete.RESTRICT)),
                ('qualification', fields.ForeignKeyField('models.Qualification', source_field='qualification_id', db_constraint=True, to_field='id', related_name='required_by', on_delete=OnDelete.RESTRICT)),
                ('min_score', fields.SmallIntField()),
            ],
            options={'table': 'task_qualifications', 'app': 'models', 'unique_together': (('task_id', 'qualification_id'),), 'pk_attr': 'id'},
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
        ops.AddField(
            model_name='Task',
            name='required_qualifications',
            field=fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name='Task',
            name='target_groups',
            field=fields.CharField(default='', max_length=1000),
        ),
    ]
