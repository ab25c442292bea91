from tortoise import migrations
from tortoise.migrations import operations as ops
from picotask.models.notifications import NotificationKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The mailer starts at the newest event: the log's history is never mailed.
START_CURSOR = ["INSERT INTO mail_cursor (id, last_event_id) SELECT 1, COALESCE(MAX(id), 0) FROM events"]


class Migration(migrations.Migration):
    dependencies = [('models', '0012_payout_methods')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MailCursor',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('last_event_id', fields.BigIntField(default=0)),
            ],
            options={'table': 'mail_cursor', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationSetting',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notification_settings', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='SUBMISSION_REVIEWED: SUBMISSION_REVIEWED\nREVISION_REQUESTED: REVISION_REQUESTED\nBONUS_RECEIVED: BONUS_RECEIVED\nPAYOUT_PAID: PAYOUT_PAID\nPAYOUT_FAILED: PAYOUT_FAILED\nMESSAGE_RECEIVED: MESSAGE_RECEIVED\nDISPUTE_DECIDED: DISPUTE_DECIDED\nNEW_SUBMISSIONS: NEW_SUBMISSIONS\nBATCH_COMPLETED: BATCH_COMPLETED', enum_type=NotificationKind, max_length=24)),
                ('email', fields.BooleanField(default=True)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification_settings', 'app': 'models', 'unique_together': (('user_id', 'kind'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SubmissionDigest',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('task', fields.ForeignKeyField('models.Task', source_field='task_id', unique=True, db_constraint=True, to_field='id', related_name='submission_digests', on_delete=OnDelete.CASCADE)),
                ('employer_id', fields.BigIntField()),
                ('pending', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'submission_digests', 'app': 'models', 'indexes': [Index(fields=['due_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='AccountToken',
            index=Index(fields=['expires_at']),
        ),
        ops.RunSQL(START_CURSOR),
    ]
