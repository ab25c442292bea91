from tortoise import migrations
from tortoise.migrations import operations as ops
from picotask.models.decisions import DecidedBy
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_quality')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Block',
            name='decided_by',
            field=fields.CharEnumField(default=DecidedBy.MANUAL, description='MANUAL: MANUAL\nREVIEW_WINDOW: REVIEW_WINDOW\nREVISION_DEADLINE: REVISION_DEADLINE\nGOLD_ACCURACY: GOLD_ACCURACY\nMAJORITY: MAJORITY\nFAST_RESPONSE: FAST_RESPONSE\nDISPUTE: DISPUTE', enum_type=DecidedBy, max_length=20),
        ),
        ops.AddField(
            model_name='Block',
            name='task_id',
            field=fields.BigIntField(null=True),
        ),
    ]
