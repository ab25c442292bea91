from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from picotask.models.uploads import UploadPurpose, UploadStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_payout_incidents')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ImageMatch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('submission_id', fields.BigIntField()),
                ('image_id', fields.BigIntField()),
                ('other_submission_id', fields.BigIntField()),
                ('other_image_id', fields.BigIntField()),
                ('same_task', fields.BooleanField()),
                ('distance', fields.SmallIntField()),
            ],
            options={'table': 'image_matches', 'app': 'models', 'indexes': [Index(fields=['submission_id']), Index(fields=['other_image_id']), Index(fields=['image_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Upload',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('owner', fields.ForeignKeyField('models.User', source_field='owner_id', db_constraint=True, to_field='id', related_name='uploads', on_delete=OnDelete.RESTRICT)),
                ('purpose', fields.CharEnumField(description='PROOF_IMAGE: PROOF_IMAGE\nAVATAR: AVATAR', enum_type=UploadPurpose, max_length=16)),
                ('status', fields.CharEnumField(default=UploadStatus.PENDING, description='PENDING: PENDING\nREADY: READY\nATTACHED: ATTACHED\nDELETING: DELETING', enum_type=UploadStatus, max_length=16)),
                ('token_hash', fields.CharField(max_length=64)),
                ('declared_type', fields.CharField(max_length=32)),
                ('declared_size', fields.IntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('content_type', fields.CharField(null=True, max_length=32)),
                ('key', fields.CharField(null=True, max_length=120)),
                ('thumb_key', fields.CharField(null=True, max_length=120)),
                ('width', fields.IntField(null=True)),
                ('height', fields.IntField(null=True)),
                ('size', fields.IntField(null=True)),
                ('fingerprints', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('submission_id', fields.BigIntField(null=True)),
                ('task_id', fields.BigIntField(null=True)),
                ('employer_id', fields.BigIntField(null=True)),
                ('attached_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'uploads', 'app': 'models', 'indexes': [Index(fields=['status', 'expires_at']), Index(fields=['owner_id', 'status']), Index(fields=['submission_id']), Index(fields=['employer_id', 'purpose', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='User',
            name='avatar_key',
            field=fields.CharField(null=True, max_length=120),
        ),
    ]
