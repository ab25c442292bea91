"""Tortoise models, one module per domain. Nothing here imports GraphQL."""

MODEL_MODULES = [
    "picotask.models.users",
    "picotask.models.ledger",
    "picotask.models.payouts",
    "picotask.models.tasks",
    "picotask.models.submissions",
    "picotask.models.batches",
    "picotask.models.groups",
    "picotask.models.qualifications",
    "picotask.models.events",
    "picotask.models.trust",
    "picotask.models.uploads",
    "picotask.models.webhooks",
    "picotask.models.quality",
    "picotask.models.mail",
    "picotask.models.notifications",
]
