from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Payout',
            name='attempts_exhausted',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Payout',
            name='last_error',
            field=fields.CharField(null=True, max_length=500),
        ),
        ops.AddIndex(
            model_name='Payout',
            index=Index(fields=['attempts_exhausted', 'id']),
        ),
    ]
