from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

# Sessions opened before this migration were last seen, as far as anyone knows, when opened.
BACKFILL = ["UPDATE sessions SET last_seen_at = created_at WHERE last_seen_at IS NULL"]


class Migration(migrations.Migration):
    dependencies = [('models', '0010_mail')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Session',
            name='client_address',
            field=fields.CharField(null=True, max_length=45),
        ),
        ops.AddField(
            model_name='Session',
            name='last_seen_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Session',
            name='user_agent',
            field=fields.CharField(null=True, max_length=300),
        ),
        ops.AddIndex(
            model_name='Session',
            index=Index(fields=['user_id', 'created_at']),
        ),
        ops.RunSQL(BACKFILL),
    ]
