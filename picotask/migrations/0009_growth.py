from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index
from tortoise.migrations.schema_editor.base import BaseSchemaEditor

# Search (services/core/text_search.py): a substring of a task's title or instructions, through
# an index. PostgreSQL: pg_trgm's GIN indexes serve ILIKE '%...%' (pg_trgm is a trusted
# extension: the database's owner may create it). SQLite: an FTS5 table with the trigram
# tokenizer over the tasks table's own columns (external content), kept by triggers; only a
# change of title or instructions touches it, not the counters a claim updates.
POSTGRES = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX tasks_title_trgm ON tasks USING gin (title gin_trgm_ops)",
    "CREATE INDEX tasks_instructions_trgm ON tasks USING gin (instructions gin_trgm_ops)",
]
SQLITE = [
    """CREATE VIRTUAL TABLE task_search USING fts5(
        title, instructions, content='tasks', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER tasks_search_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_search (rowid, title, instructions)
        VALUES (new.id, new.title, new.instructions);
    END""",
    """CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
        INSERT INTO task_search (task_search, rowid, title, instructions)
        VALUES ('delete', old.id, old.title, old.instructions);
    END""",
    """CREATE TRIGGER tasks_search_update AFTER UPDATE OF title, instructions ON tasks BEGIN
        INSERT INTO task_search (task_search, rowid, title, instructions)
        VALUES ('delete', old.id, old.title, old.instructions);
        INSERT INTO task_search (rowid, title, instructions)
        VALUES (new.id, new.title, new.instructions);
    END""",
    "INSERT INTO task_search (task_search) VALUES ('rebuild')",
]


async def search_index(apps: object, schema_editor: BaseSchemaEditor) -> None:
    client = schema_editor.client
    for sql in SQLITE if client.capabilities.dialect == "sqlite" else POSTGRES:
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [('models', '0008_block_decided_by')]

    initial = False

    operations = [
        ops.AddIndex(
            model_name='Submission',
            index=Index(fields=['worker_id', 'id']),
        ),
        ops.RemoveIndex(
            model_name='Task',
            name=None,
            fields=['status', 'published_at'],
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['status', 'published_at', 'id']),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['status', 'reward', 'id']),
        ),
        ops.AddIndex(
            model_name='Task',
            index=Index(fields=['status', 'pay_per_minute', 'id']),
        ),
        ops.RunPython(search_index),
    ]
